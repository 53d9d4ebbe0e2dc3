"""Collect bench/results/*.md into bench/RESULTS.md (one report for the whole run)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parts = ["# Benchmark results", "",
             "Written by `make bench`: each table times our engine and a peer library on the same model, "
             "input and device in the same run. Ratio < 1 (or speed-up > 1) means we are faster.", ""]
    for path in sorted((HERE / "results").glob("*.md")):
        parts += ["", path.read_text().replace("# ", "## ", 1)]
    (HERE / "RESULTS.md").write_text("\n".join(parts) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
