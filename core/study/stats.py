"""Small-sample statistics for human studies, standard library only.

* ``wilson``: the score interval of a binomial proportion (Wilson 1927, "Probable inference,
  the law of succession, and statistical inference", JASA 22:209-212).
* ``binom_test``: the exact two-sided binomial test; the two-sided p-value sums every outcome
  no more probable than the one observed (the "minlike" rule scipy.stats.binomtest uses).
* ``sign_test``: the binomial test of positive vs negative signs, ties dropped.
* ``t_interval``: the Student-t confidence interval of a mean; the t quantile is found by
  bisection on the CDF, which is the regularised incomplete beta function evaluated by its
  continued fraction (Lentz's method; Press et al., Numerical Recipes, §6.4).

These are the figures the human studies of Grad-CAM (Selvaraju et al. 2017, §5.1-5.2) and
Grad-CAM++ (Chattopadhay et al. 2018, §6) report: accuracy of class discrimination against
chance, and the mean of a relative-trust scale.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054   # standard normal quantile at 0.975
_RELATIVE = 1 + 1e-7       # scipy's tolerance when comparing outcome probabilities


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials (8/10 → [0.490, 0.943])."""
    if n <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    if not 0 <= k <= n:
        raise ValueError(f"successes must be in [0, {n}], got {k}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _pmf(n: int, p: float) -> list[float]:
    """P(X = i), i = 0..n: exact binomial coefficients up to n = 1000, log-gamma beyond."""
    if n <= 1000:
        return [math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(n + 1)]
    return [math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                     + i * math.log(p) + (n - i) * math.log1p(-p)) for i in range(n + 1)]


def binom_test(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` trials under success probability ``p``."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not 0 <= k <= n:
        raise ValueError(f"successes must be in [0, {n}], got {k}")
    if n == 0:
        return 1.0
    pmf = _pmf(n, p)
    limit = pmf[k] * _RELATIVE
    return min(1.0, math.fsum(q for q in pmf if q <= limit))


def sign_test(values) -> float:
    """Two-sided sign test of ``values`` against a median of 0; zeros (ties) are left out."""
    positive = sum(1 for v in values if v > 0)
    nonzero = sum(1 for v in values if v != 0)
    return binom_test(positive, nonzero) if nonzero else 1.0


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student-t cumulative distribution function."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def t_ppf(q: float, df: float) -> float:
    """Student-t quantile (bisection on ``t_cdf``, to about 1e-12)."""
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if q < 0.5:
        return -t_ppf(1 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def t_interval(values, level: float = 0.95) -> tuple[float | None, float | None]:
    """Student-t interval of the mean of ``values``; ``(None, None)`` with fewer than 2 values."""
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        return None, None
    m = mean(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    half = t_ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return m - half, m + half
