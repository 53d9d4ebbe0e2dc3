"""One presenter + view module per task. A workspace talks only to the Session and the JobRunner
(never to another workspace); MainWindow puts them behind the mode bar."""
