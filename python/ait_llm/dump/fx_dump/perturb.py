"""Planting a fault in the GE runs: `--perturb 'PATTERN=KIND[:MAG]'`, the syntax, kinds, defaults,
glob rules and noise generator of `ait-engine --perturb` (engine/README.md "Fault injection",
engine/src/perturb.cc), applied to GE operator names.

PATTERN is matched fnmatch-style against the whole name (`*`, `?`, `[abc]`, `[a-z]`, `[!a]`,
`\\c`) and split from KIND at the last `=`. Kinds (x an element as float32; integer and bool
outputs are left alone):
  noise[:MAG=0.1]   x + MAG * rms * z, z ~ N(0, 1) from splitmix64 + Box-Muller seeded by the op
                    name, the iteration and the output index (reproducible); rms over the finite
                    elements, 0 -> no change
  scale[:MAG=2]     x * MAG
  bias[:MAG=1]      x + MAG
  zero              0
  nan[:MAG=0.01]    NaN at flat indices that are multiples of round(1/MAG) (0, 100, 200, ...)
  inf[:MAG=0.01]    +inf at the same indices
  fp16-saturate     |x| <= 65504 unchanged, 65504 < |x| < 65520 -> +-65504, |x| >= 65520 -> +-inf
"""
import dataclasses
import math

import numpy as np

KINDS = {  # name: (takes MAG, default)
    "noise": (True, 0.1), "scale": (True, 2.0), "bias": (True, 1.0), "zero": (False, 0.0),
    "nan": (True, 0.01), "inf": (True, 0.01), "fp16-saturate": (False, 0.0),
}
_KIND_LIST = "noise, scale, bias, zero, nan, inf, fp16-saturate"
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class PerturbError(ValueError):
    """A --perturb spec that cannot be parsed, or that matches no operator."""


def _match_set(pattern, p, c):
    """The `[...]` set at pattern[p]: (index past `]`, c in set) or None when unclosed."""
    i = p + 1
    negate = False
    if i < len(pattern) and pattern[i] in "!^":
        negate = True
        i += 1
    found, first = False, True
    while i < len(pattern) and (first or pattern[i] != "]"):
        first = False
        lo = pattern[i]
        if lo == "\\" and i + 1 < len(pattern):
            i += 1
            lo = pattern[i]
        hi = lo
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            hi = pattern[i + 2]
            i += 2
        if lo <= c <= hi:
            found = True
        i += 1
    if i >= len(pattern):
        return None
    return i + 1, found != negate


def _bad_set(pattern):
    p = 0
    while p < len(pattern):
        if pattern[p] == "\\":
            p += 1
        elif pattern[p] == "[":
            end = _match_set(pattern, p, "a")
            if end is None:
                return True
            p = end[0] - 1
        p += 1
    return False


def glob_match(pattern, name):
    """ait-engine's GlobMatch: fnmatch over the whole name, with backslash escapes."""
    p = n = 0
    star_p, star_n = None, 0
    while n < len(name):
        if p < len(pattern):
            c = pattern[p]
            if c == "*":
                star_p, star_n = p, n
                p += 1
                continue
            if c == "?":
                p += 1
                n += 1
                continue
            if c == "[":
                got = _match_set(pattern, p, name[n])
                if got is not None:
                    if got[1]:
                        p = got[0]
                        n += 1
                        continue
                elif name[n] == "[":
                    p += 1
                    n += 1
                    continue
            else:
                escaped = c == "\\" and p + 1 < len(pattern)
                lit = pattern[p + 1] if escaped else c
                if lit == name[n]:
                    p += 2 if escaped else 1
                    n += 1
                    continue
        if star_p is None:
            return False
        p = star_p + 1
        star_n += 1
        n = star_n
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


@dataclasses.dataclass
class Perturbation:
    spec: str
    pattern: str
    kind: str
    magnitude: float

    def matches(self, name):
        return glob_match(self.pattern, name)

    def apply(self, values, seed):
        """The perturbed copy of a float numpy array (float32 math, like the engine)."""
        v = np.array(values, dtype=np.float32, copy=True)
        flat = v.reshape(-1)
        if flat.size == 0:
            return v
        if self.kind == "noise":
            finite = flat[np.isfinite(flat)].astype(np.float64)
            sigma = self.magnitude * math.sqrt(float(np.sum(finite * finite)) / finite.size) if finite.size else 0.0
            if sigma == 0:
                return v
            u = _uniforms(seed, 2 * flat.size)
            z = np.sqrt(-2.0 * np.log(u[0::2])) * np.cos(2.0 * math.pi * u[1::2])
            flat[:] = (flat.astype(np.float64) + sigma * z).astype(np.float32)
        elif self.kind == "scale":
            flat[:] = (flat.astype(np.float64) * self.magnitude).astype(np.float32)
        elif self.kind == "bias":
            flat[:] = (flat.astype(np.float64) + self.magnitude).astype(np.float32)
        elif self.kind == "zero":
            flat[:] = 0
        elif self.kind in ("nan", "inf"):
            stride = max(1, int(math.floor(1.0 / self.magnitude + 0.5)))
            flat[::stride] = np.nan if self.kind == "nan" else np.inf
        elif self.kind == "fp16-saturate":
            a = np.abs(flat)
            flat[:] = np.where(a >= 65520.0, np.copysign(np.float32(np.inf), flat),
                               np.where(a > 65504.0, np.copysign(np.float32(65504.0), flat), flat))
        return v


def parse(spec):
    """A Perturbation from 'PATTERN=KIND[:MAG]'; PerturbError with the engine's messages."""
    def fail(why):
        return PerturbError(f"'{spec}': {why} (expected PATTERN=KIND[:MAG], KIND one of {_KIND_LIST})")

    eq = spec.rfind("=")
    if eq < 0:
        raise fail("no '='")
    pattern, rest = spec[:eq], spec[eq + 1:]
    if not pattern:
        raise fail("empty PATTERN")
    if _bad_set(pattern):
        raise fail(f"PATTERN '{pattern}' has a '[' without its ']'")
    kind, colon, mag = rest.partition(":")
    if kind not in KINDS:
        raise fail(f"unknown KIND '{kind}'")
    takes_mag, magnitude = KINDS[kind]
    if colon:
        if not takes_mag:
            raise fail(f"KIND {kind} takes no MAG, found '{mag}'")
        try:
            if not mag or mag[0].isspace() or mag[-1].isspace() or "_" in mag:
                raise ValueError
            value = float(mag)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise fail(f"MAG '{mag}' is not a finite number")
        if kind == "noise" and value < 0:
            raise fail(f"noise MAG must be >= 0, found {mag}")
        if kind in ("nan", "inf") and not 0 < value <= 1:
            raise fail(f"{kind} MAG is the fraction of elements, in (0, 1], found {mag}")
        magnitude = value
    return Perturbation(spec=spec, pattern=pattern, kind=kind, magnitude=magnitude)


def check_matches(perturbations, names):
    """Raises PerturbError for a spec matching none of `names` (with example names)."""
    for p in perturbations:
        if not any(p.matches(n) for n in names):
            examples = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise PerturbError(f"'{p.spec}': PATTERN '{p.pattern}' matches no GE operator "
                               f"({len(names)} operators, e.g. {examples})")


def _splitmix(state):
    """(new state, output) of one splitmix64 step, Python ints."""
    state = (state + _GOLDEN) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


def seed_of(op_name, execute_count, out_index):
    """The engine's PerturbSeed: FNV-1a of the name, mixed with the execution count and the
    output index."""
    h = 0xCBF29CE484222325
    for byte in op_name.encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    state = h ^ ((execute_count * 0xD6E8FEB86659FD93) & _MASK) ^ (((out_index + 1) * 0xA0761D6478BD642F) & _MASK)
    return _splitmix(state)[1]


def _uniforms(seed, count):
    """`count` successive Uniform(state) values from state = seed: (x >> 11 + 1) * 2^-53 in (0, 1]."""
    with np.errstate(over="ignore"):
        k = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53
