"""The two Ascend tensor layouts a GE dump file may hold besides ND, in numpy (FORMATS.md 9.2).

Both pad with zeros; the inverse functions drop the padding. ait's C++ reader
(src/formats/ge_dump.cc) implements the inverses of the forward functions.

FRACTAL_NZ (format 29), C0 = 16: ND shape [..., M, N] (a 1-D [N] is taken as [1, N]) is stored as
[..., ceil(N/16), ceil(M/16), 16, 16]; element (m, n) sits at [..., n//16, m//16, m%16, n%16].

NC1HWC0 (format 3): NCHW shape [N, C, H, W] is stored as [N, ceil(C/C0), H, W, C0]; element
(n, c, h, w) sits at [n, c//C0, h, w, c%C0]. C0 = 32 bytes / element size: 16 for 2-byte types,
32 for 1-byte types, 8 for 4-byte types (8-byte types have no C0 and are refused).
"""
import numpy as np

NZ_C0 = 16
NC1HWC0_BYTES = 32


def _ceil_div(a, b):
    return -(-a // b)


def nd_to_fractal_nz(array, c0=NZ_C0):
    """ND [..., M, N] -> FRACTAL_NZ [..., ceil(N/c0), ceil(M/c0), c0, c0] (zero padding)."""
    a = np.asarray(array)
    if a.ndim == 0:
        raise ValueError("FRACTAL_NZ needs at least one dimension")
    if a.ndim == 1:
        a = a.reshape(1, -1)
    *batch, m, n = a.shape
    m1, n1 = _ceil_div(m, c0), _ceil_div(n, c0)
    padded = np.zeros((*batch, m1 * c0, n1 * c0), dtype=a.dtype)
    padded[..., :m, :n] = a
    # [..., M1, M0, N1, N0] -> [..., N1, M1, M0, N0]
    blocks = padded.reshape(*batch, m1, c0, n1, c0)
    nb = len(batch)
    order = list(range(nb)) + [nb + 2, nb, nb + 1, nb + 3]
    return np.ascontiguousarray(blocks.transpose(order))


def fractal_nz_to_nd(stored, original_shape):
    """FRACTAL_NZ [..., N1, M1, M0, N0] -> ND `original_shape` (padding dropped)."""
    s = np.asarray(stored)
    shape = tuple(int(d) for d in original_shape)
    nd = shape if len(shape) >= 2 else (1,) + shape
    *batch, m, n = nd
    if s.ndim != len(batch) + 4 or tuple(s.shape[:len(batch)]) != tuple(batch):
        raise ValueError(f"FRACTAL_NZ shape {list(s.shape)} does not fit original shape {list(shape)}")
    n1, m1, m0, n0 = s.shape[len(batch):]
    if m1 * m0 < m or n1 * n0 < n:
        raise ValueError(f"FRACTAL_NZ shape {list(s.shape)} is too small for original shape {list(shape)}")
    nb = len(batch)
    order = list(range(nb)) + [nb + 1, nb + 2, nb, nb + 3]  # -> [..., M1, M0, N1, N0]
    full = s.transpose(order).reshape(*batch, m1 * m0, n1 * n0)
    return np.ascontiguousarray(full[..., :m, :n]).reshape(shape)


def nc1hwc0_c0(dtype):
    """C0 of NC1HWC0 for a numpy dtype: 32 bytes' worth of elements."""
    size = np.dtype(dtype).itemsize
    if size not in (1, 2, 4):
        raise ValueError(f"NC1HWC0 has no C0 for {np.dtype(dtype)} ({size}-byte elements)")
    return NC1HWC0_BYTES // size


def nchw_to_nc1hwc0(array, c0=None):
    """NCHW [N, C, H, W] -> NC1HWC0 [N, ceil(C/C0), H, W, C0] (zero padding)."""
    a = np.asarray(array)
    if a.ndim != 4:
        raise ValueError(f"NC1HWC0 needs a 4-D NCHW array, got shape {list(a.shape)}")
    c0 = c0 or nc1hwc0_c0(a.dtype)
    n, c, h, w = a.shape
    c1 = _ceil_div(c, c0)
    padded = np.zeros((n, c1 * c0, h, w), dtype=a.dtype)
    padded[:, :c] = a
    return np.ascontiguousarray(padded.reshape(n, c1, c0, h, w).transpose(0, 1, 3, 4, 2))


def nc1hwc0_to_nchw(stored, original_shape):
    """NC1HWC0 [N, C1, H, W, C0] -> NCHW `original_shape` (padding dropped)."""
    s = np.asarray(stored)
    n, c, h, w = (int(d) for d in original_shape)
    if s.ndim != 5 or (s.shape[0], s.shape[2], s.shape[3]) != (n, h, w) or s.shape[1] * s.shape[4] < c:
        raise ValueError(f"NC1HWC0 shape {list(s.shape)} does not fit original shape {[n, c, h, w]}")
    c1, c0 = s.shape[1], s.shape[4]
    return np.ascontiguousarray(s.transpose(0, 1, 4, 2, 3).reshape(n, c1 * c0, h, w)[:, :c])
