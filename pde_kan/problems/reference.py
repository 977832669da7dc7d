"""Reference data of a :class:`~pde_kan.problems.PDE` without a closed-form solution: ``(x, u)`` arrays or an
``.npz`` / ``.h5`` file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def load_reference(reference, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x (M, dim), u (M,))`` float64 from ``(x, u)`` arrays / tensors or an ``.npz`` / ``.h5`` file with
    datasets ``x`` and ``u``."""
    if isinstance(reference, (str, Path)):
        path = Path(reference)
        if not path.is_file():
            raise FileNotFoundError(f"PDE: reference file {str(path)!r} does not exist; pass an .npz or .h5 file "
                                    f"with arrays 'x' (M, {dim}) and 'u' (M,).")
        if path.suffix == ".npz":
            with np.load(path) as f:
                keys = list(f.keys())
                if "x" not in keys or "u" not in keys:
                    raise ValueError(f"PDE: reference file {str(path)!r} must contain arrays 'x' and 'u', found "
                                     f"{keys}.")
                x, u = f["x"], f["u"]
        elif path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                if "x" not in f or "u" not in f:
                    raise ValueError(f"PDE: reference file {str(path)!r} must contain datasets 'x' and 'u', found "
                                     f"{sorted(f.keys())}.")
                x, u = f["x"][()], f["u"][()]
        else:
            raise ValueError(f"PDE: reference file {str(path)!r} must end in .npz, .h5 or .hdf5.")
    else:
        try:
            x, u = reference
        except (TypeError, ValueError):
            raise TypeError(f"PDE: reference must be a pair (x, u) of arrays or a path to an .npz / .h5 file, got "
                            f"{type(reference).__name__}.") from None
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    u = np.asarray(u.detach().cpu() if isinstance(u, torch.Tensor) else u, dtype=np.float64)
    if u.ndim == 2 and u.shape[1] == 1:
        u = u[:, 0]
    if x.ndim == 1 and dim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"PDE: reference x must have shape (M, {dim}), got {x.shape}.")
    if u.shape != (x.shape[0],):
        raise ValueError(f"PDE: reference u must have shape ({x.shape[0]},) or ({x.shape[0]}, 1) to match x, got "
                         f"{u.shape}.")
    if not (np.isfinite(x).all() and np.isfinite(u).all()):
        raise ValueError("PDE: reference x and u must be finite; drop the NaN / inf rows.")
    return x, u
