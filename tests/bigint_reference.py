"""A slow, independent reference of the IR semantics: plain Python ints and nested lists.

Written from DESIGN.md and the IR node fields only; it never calls edgeq.numerics or
edgeq.golden, so the property tests compare two implementations, not one with itself.
Tensors are nested lists, one per sample, channels last. 1-D windows run as 2-D windows of
height 1.
"""

from bisect import bisect_right
from fractions import Fraction

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# ---- integer rounding and overflow -------------------------------------------------------

def divide_pow2(v: int, c: int, rounding: str) -> int:
    """``v / 2**c`` rounded with a named mode; ``c <= 0`` multiplies exactly."""
    if c <= 0:
        return v * 2**(-c)
    d = 2**c
    q, r = divmod(v, d)  # floor quotient, 0 <= r < d
    if r == 0:
        return q
    twice = 2 * r
    if rounding == "FLOOR":
        return q
    if rounding == "TOWARD_ZERO":
        return q + 1 if v < 0 else q
    if twice != d:  # not a tie: every half-mode goes to the nearest
        return q + 1 if twice > d else q
    tie_up = {"HALF_UP": True, "HALF_DOWN": False, "HALF_TOWARD_ZERO": v < 0,
              "HALF_AWAY": v > 0, "HALF_EVEN": q % 2 == 1}[rounding]
    return q + 1 if tie_up else q


def int_limits(bits: int, signed: bool) -> tuple[int, int]:
    return (-(2**(bits - 1)), 2**(bits - 1) - 1) if signed else (0, 2**bits - 1)


def fit(y: int, bits: int, signed: bool, mode: str) -> int:
    lo, hi = int_limits(bits, signed)
    if mode == "SAT_SYM" and signed and bits > 1:
        # ap_fixed's AP_SAT_SYM also moves the most negative code to 10..01, which is -hi;
        # with one bit that pattern is the minimum itself
        lo = -hi
    if lo <= y <= hi:
        return y
    if mode == "WRAP":
        y %= 2**bits
        return y - 2**bits if signed and y > hi else y
    if mode == "SAT_ZERO":
        return 0
    return min(max(y, lo), hi)


# ---- TFLite Micro double rounding, from its published definitions -------------------------

def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    num = ab + nudge
    quotient = abs(num) // 2**31  # C++ integer division truncates toward zero
    return quotient if num >= 0 else -quotient


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = 2**exponent - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def tflm_multiply(acc: int, multiplier: int, c: int) -> int:
    tflite_shift = 31 - c  # edgeq stores the right shift c of M / 2**c, M a Q31 value
    left, right = max(tflite_shift, 0), max(-tflite_shift, 0)
    x = acc * 2**left
    assert INT32_MIN <= x <= INT32_MAX, "tflm input must fit int32"
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


# ---- minifloat grid ------------------------------------------------------------------------

_GRIDS: dict = {}


def minifloat_grid(dtype) -> list[int]:
    """Every finite non-negative value of ``fp<E, M>`` on the integer grid, indexed by code."""
    key = (dtype.exponent_bits, dtype.mantissa_bits, dtype.special)
    if key not in _GRIDS:
        E, M = dtype.exponent_bits, dtype.mantissa_bits
        values = []
        for e in range(2**E):
            for m in range(2**M):
                if dtype.special == "ieee" and e == 2**E - 1:
                    continue  # inf / NaN
                if dtype.special == "fn" and e == 2**E - 1 and m == 2**M - 1:
                    continue  # NaN
                # subnormal: m grid units; normal: (1.m) * 2**(e-1) grid units * 2**M
                values.append(m if e == 0 else (2**M + m) * 2**(e - 1))
        assert values == sorted(values)
        _GRIDS[key] = values
    return _GRIDS[key]


def round_to_minifloat(value: Fraction, dtype) -> int:
    """Nearest grid value, ties to the even code, saturating; negative -> 0 when unsigned."""
    grid = minifloat_grid(dtype)
    mag = abs(value)
    if mag >= grid[-1]:
        q = grid[-1]
    else:
        i = bisect_right(grid, mag) - 1
        below, above = grid[i], grid[i + 1]
        if mag - below != above - mag:
            q = below if mag - below < above - mag else above
        else:
            q = below if i % 2 == 0 else above
    if value < 0:
        return -q if dtype.signed else 0
    return q


def is_minifloat(dtype) -> bool:
    return hasattr(dtype, "exponent_bits")


def type_values(dtype) -> tuple[int, int]:
    """Smallest and largest value of an element type."""
    if is_minifloat(dtype):
        top = minifloat_grid(dtype)[-1]
        return (-top if dtype.signed else 0), top
    return int_limits(dtype.bits, dtype.signed)


# ---- requantization ------------------------------------------------------------------------

def requantize(acc: int, channel: int, rq, dtype) -> int:
    M, c = int(rq.multiplier[channel]), int(rq.shift[channel])
    if rq.mode == "tflm":
        lo, hi = int_limits(dtype.bits, dtype.signed)
        y = tflm_multiply(acc, M, c)
        return min(max(y, 0 if rq.relu else lo), hi)
    if is_minifloat(dtype):
        y = round_to_minifloat(Fraction(acc * M) / Fraction(2)**c, dtype)
    else:
        y = fit(divide_pow2(acc * M, c, rq.rounding.value), dtype.bits, dtype.signed,
                rq.overflow.value)
    return max(y, 0) if rq.relu else y


# ---- ops -------------------------------------------------------------------------------------

def nested(flat: list, shape) -> list:
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [nested(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def flat(t) -> list:
    return [v for sub in t for v in flat(sub)] if isinstance(t, list) else [t]


def as_image(t, spatial_dims: int):
    return [t] if spatial_dims == 1 else t


def from_image(t, spatial_dims: int):
    return t[0] if spatial_dims == 1 else t


class AccumulatorError(AssertionError):
    pass


def requantize_tensor(acc, node):
    """Each accumulator of a channels-last tensor, requantized with its channel's constants."""
    if isinstance(acc[0], list):
        return [requantize_tensor(a, node) for a in acc]
    lo, hi = -(2**(node.acc_bits - 1)), 2**(node.acc_bits - 1) - 1
    out = []
    for channel, a in enumerate(acc):
        if not lo <= a <= hi:
            raise AccumulatorError(f"{node.name}: accumulator {a} outside {node.acc_bits} bits")
        out.append(requantize(a, channel, node.requant, node.out.dtype))
    return out


# Each op returns its accumulators (its output, for max pooling and reshapes).

def dense(node, x):
    W = node.weight.tolist()
    b = None if node.bias is None else node.bias.tolist()
    return [sum(xi * wi for xi, wi in zip(x, row)) + (b[o] if b else 0)
            for o, row in enumerate(W)]


def _window_geometry(node, kernel):
    nd = len(kernel)
    k = (1,) * (2 - nd) + tuple(kernel)
    s = (1,) * (2 - nd) + tuple(node.stride)
    p = (0,) * (2 - nd) + tuple(getattr(node, "padding", (0,) * nd))
    return nd, k, s, p


def conv(node, x):
    W = node.weight.tolist()
    kernel = node.weight.shape[1:-1]
    nd, (kh, kw), (sh, sw), (ph, pw) = _window_geometry(node, kernel)
    if nd == 1:
        W = [[taps] for taps in W]  # (C_out, 1, k, C_in/g)
    img = as_image(x, nd)
    H, Wd = len(img), len(img[0])
    cout, cin_g = len(W), node.weight.shape[-1]
    cout_g = cout // node.groups
    b = None if node.bias is None else node.bias.tolist()
    OH, OW = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
    out = []
    for oh in range(OH):
        row = []
        for ow in range(OW):
            pixel = []
            for co in range(cout):
                g = co // cout_g
                acc = b[co] if b else 0
                for i in range(kh):
                    for j in range(kw):
                        ih, iw = oh * sh - ph + i, ow * sw - pw + j
                        if 0 <= ih < H and 0 <= iw < Wd:  # zero padding adds nothing
                            for ci in range(cin_g):
                                acc += img[ih][iw][g * cin_g + ci] * W[co][i][j][ci]
                pixel.append(acc)
            row.append(pixel)
        out.append(row)
    return from_image(out, nd)


def pool(node, x):
    nd, (kh, kw), (sh, sw), _ = _window_geometry(node, node.kernel)
    img = as_image(x, nd)
    H, Wd, C = len(img), len(img[0]), len(img[0][0])
    reduce = max if node.mode == "max" else sum
    return from_image([[[reduce([img[oh * sh + i][ow * sw + j][ch]
                                 for i in range(kh) for j in range(kw)]) for ch in range(C)]
                        for ow in range((Wd - kw) // sw + 1)]
                       for oh in range((H - kh) // sh + 1)], nd)


def global_avgpool(node, x):
    C = node.out.shape[-1]
    values = flat(x)
    return [sum(values[ch::C]) for ch in range(C)]


def add(node, a, b):
    C = node.out.shape[-1]
    Ms, cs = node.input_multipliers.tolist(), node.input_shifts.tolist()
    common = [max(cs[0][ch], cs[1][ch]) for ch in range(C)]
    acc = [va * Ms[0][i % C] * 2**(common[i % C] - cs[0][i % C])
           + vb * Ms[1][i % C] * 2**(common[i % C] - cs[1][i % C])
           for i, (va, vb) in enumerate(zip(flat(a), flat(b)))]
    return nested(acc, node.out.shape)


OPS = {"Dense": dense, "Conv": conv, "Pool": pool, "GlobalAvgPool": global_avgpool, "Add": add,
       "Flatten": lambda node, x: flat(x),
       "Reshape": lambda node, x: nested(flat(x), node.out.shape)}


def run_reference(graph, batch, accumulators: dict | None = None) -> dict:
    """Every node's integers for every sample: ``{name: [sample tensors]}``; ``accumulators``
    (a dict) receives every requantizing node's accumulators the same way."""
    values = {graph.nodes[0].name: [sample for sample in batch.tolist()]}
    for node in graph.nodes[1:]:
        ins = [values[name] for name in node.inputs]
        results = [OPS[node.op](node, *sample) for sample in zip(*ins)]
        if getattr(node, "requant", None) is not None:
            if accumulators is not None:
                accumulators[node.name] = results
            results = [requantize_tensor(acc, node) for acc in results]
        values[node.name] = results
    return values
