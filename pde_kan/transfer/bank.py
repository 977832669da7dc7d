"""``AdapterBank``: one LoTRA adapter per coefficient set of a PDE family, trained from one base and kept in one file.

The workflow a family of coefficients wants (many nearby problems, one trained base): train each member's adapter
starting from the adapter of the nearest coefficients already in the bank (a warm start), keep only the adapters
(a few percent of the model each, ``float32`` by default), and rebuild or merge any member's model on demand::

    bank = AdapterBank(base_solution, path="runs/family/bank.h5")    # base: a Solution or a backbone
    for problem in family:                                           # e.g. read_family("sets.toml", source)
        bank.add(problem)                                            # warm-starts from the nearest stored set
    key, distance = bank.nearest(new_problem)
    model = bank.model(key)                                          # a LoTRAModel on a copy of the base
    plain = bank.model(key, merged=True)                             # the plain backbone, delta merged

File format (one HDF5 file, written atomically after every :meth:`AdapterBank.add` when the bank has a path):
one dataset ``adapters`` of shape ``(members, numbers)`` in the bank's dtype — every member's adapter tensors
(:meth:`LoTRAModel.adapter_state`) flattened into one row, all rows with the same ``layout`` (a root attribute
listing tensor names and shapes), so the file holds little beyond the numbers themselves — and root attributes
``format``, ``format_version``, ``base_hash`` (:func:`weights_hash` of the base model), ``base_config``,
``lotra``, ``dtype``, ``lr`` and ``members`` (JSON, in insertion order: key, problem parameters, the numeric
``vector`` the distance is measured on, the ``signature`` that must match, metrics, ``warm_start_from``).
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import h5py
import numpy as np
import torch
from torch import nn

from ..nn import MixedHeads
from ..solvers import Solution, TrainConfig, load_solution
from .._io import atomic_write
from ..solvers.results import open_hdf5
from .api import _source_model, default_lr, transfer
from .config import LoTRAConfig
from .family import read_family
from .io import weights_hash
from .model import LoTRAModel, inject_lotra
from .multitask import mix_heads

BANK_FORMAT = "pde_kan.adapter_bank"
BANK_VERSION = 1
BANK_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: the stored tensor name of a family-base member's mixing weights (see :class:`AdapterBank`)
MIX = "heads.mix"
#: what a member key may be: it names the member in the bank file and, for `pde-kan transfer --many`, a folder
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:=+-]{1,128}$")


def coefficient_vector(problem) -> tuple[str, np.ndarray]:
    """``(signature, vector)`` of a problem: the numeric parameters (numbers and lists of numbers, in key order)
    as one float64 vector, and a JSON signature of everything else (the name, the keys and lengths of the
    numeric ones, the non-numeric values). Two problems are comparable when their signatures are equal."""
    params = problem.params() if hasattr(problem, "params") else None
    if not isinstance(params, dict):
        raise TypeError(f"AdapterBank: a problem must have params() returning a dict (a pde_kan Problem), got "
                        f"{type(problem).__name__}.")
    numeric, other, values = [], {}, []
    for k in sorted(params):
        v = params[k]
        if _is_number(v):
            numeric.append([k, 0])
            values.append(float(v))
        elif isinstance(v, (list, tuple)) and v and all(_is_number(e) for e in v):
            numeric.append([k, len(v)])
            values.extend(float(e) for e in v)
        else:
            other[k] = v
    signature = json.dumps({"numeric": numeric, "other": other}, sort_keys=True, default=str)
    return signature, np.asarray(values, dtype=np.float64)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


@dataclass
class BankEntry:
    """One stored adapter: its tensors (in the bank's dtype) and what it was trained for."""

    problem: dict[str, Any]
    signature: str
    vector: np.ndarray
    tensors: dict[str, torch.Tensor]
    metrics: dict[str, Any] = field(default_factory=dict)
    warm_start_from: str = ""


class AdapterBank:
    """LoTRA adapters for a family of coefficient sets, all on one base model.

    Args:
        base: the base :class:`~pde_kan.solvers.Solution` (its model and training config are used), the path of
            its ``results.h5``, or a backbone. The base model is never modified.
        path: the HDF5 file the bank is written to after every :meth:`add` (None: in memory until
            :meth:`save`).
        lotra: the :class:`LoTRAConfig` of every adapter (default ``LoTRAConfig()``); fixed for the bank so
            that any adapter can warm-start any other.
        config: the :class:`~pde_kan.solvers.TrainConfig` of each member's run (default: the base run's config,
            else ``TrainConfig()``); its ``lr`` is not used unless ``lr`` is given (LoTRA's default rate is).
        lr: the LoTRA base rate (default :func:`~pde_kan.transfer.default_lr` ``("lotra")``).
        base_problem: the problem the base was trained on (default: the base solution's problem). A member
            whose coefficients are nearer to it than to every stored member starts from the base itself (a
            zero delta): in a family spread around the base, another member is usually farther away than the
            base.
        dtype: ``"float32"`` (default: half the disk, the adapters are cast back to the model's dtype on
            load) or ``"float64"`` (bit-exact round trip).

    A base with several outputs is a family base (:func:`~pde_kan.transfer.pretrain_family`): each member then
    starts from the heads' mix fitted to its problem (:func:`~pde_kan.transfer.mix_heads`), its adapter goes on
    that mixed model, and the bank stores the ``H`` mixing weights with the adapter (as ``"heads.mix"``).
    """

    def __init__(self, base, path=None, *, lotra: Optional[LoTRAConfig] = None,
                 config: Optional[TrainConfig] = None, lr: Optional[float] = None, dtype: str = "float32",
                 base_problem=None, sampling=None):
        if base_problem is None and isinstance(base, Solution):
            base_problem = base.problem
        if isinstance(base, (str, os.PathLike)):  # read once: its train config and sampling are the defaults
            base = load_solution(base)
        if sampling is None and isinstance(base, Solution):
            sampling = base.sampling
        self.sampling = sampling
        model, source_config = _source_model(base)
        if isinstance(model, LoTRAModel):
            raise TypeError("AdapterBank: the base model carries LoTRA adapters; pass model.merge_and_unload() "
                            "or the original base solution.")
        if not isinstance(getattr(model, "config", None), dict):
            raise TypeError(f"AdapterBank: base must be a Solution, a results-file path or a pde_kan backbone, got "
                            f"{type(model).__name__}.")
        if lotra is not None and not isinstance(lotra, LoTRAConfig):
            raise TypeError(f"AdapterBank: lotra must be a LoTRAConfig, got {type(lotra).__name__}.")
        if config is not None and not isinstance(config, TrainConfig):
            raise TypeError(f"AdapterBank: config must be a TrainConfig, got {type(config).__name__}.")
        if dtype not in BANK_DTYPES:
            raise ValueError(f"AdapterBank: dtype must be one of {', '.join(map(repr, BANK_DTYPES))}, got {dtype!r}.")
        self.base_model = model
        #: a family base: one output per pretraining set; members are fitted mixes of the heads plus an adapter
        self.is_family = getattr(model, "out_features", 1) > 1
        self.base_hash = weights_hash(model)
        self.lotra = lotra if lotra is not None else LoTRAConfig()
        self.config = config if config is not None else (source_config or TrainConfig())
        self.lr = lr if lr is not None else default_lr("lotra")
        self.dtype = dtype
        self.path = None if path is None else Path(path)
        self.entries: dict[str, BankEntry] = {}
        self.base_params = base_problem.params() if base_problem is not None else None
        self._base_vector = coefficient_vector(base_problem) if base_problem is not None else None

    # --- contents ----------------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key) -> bool:
        return key in self.entries

    def _entry(self, key: str) -> BankEntry:
        if key not in self.entries:
            raise KeyError(f"AdapterBank: no adapter {key!r}; stored keys: {', '.join(map(repr, self.entries)) or 'none'}"
                           f".")
        return self.entries[key]

    def nearest(self, problem, include_base: bool = False) -> Optional[tuple[Optional[str], float]]:
        """``(key, distance)`` of the stored coefficients closest to ``problem``'s (Euclidean distance over the
        numeric parameters, among entries with the same signature), or None when none is comparable. With
        ``include_base`` the base problem competes too, as key None."""
        signature, vector = coefficient_vector(problem)
        best = None
        if include_base and self._base_vector is not None and self._base_vector[0] == signature:
            best = (None, float(np.linalg.norm(self._base_vector[1] - vector)))
        for key, e in self.entries.items():
            if e.signature != signature:
                continue
            d = float(np.linalg.norm(e.vector - vector))
            if best is None or d < best[1]:
                best = (key, d)
        return best

    def adapter_state(self, key: str) -> dict[str, torch.Tensor]:
        """The stored tensors of ``key`` in the base model's dtype."""
        dtype = next(self.base_model.parameters()).dtype
        return {k: v.to(dtype) for k, v in self._entry(key).tensors.items()}

    def model(self, which, merged: bool = False) -> nn.Module:
        """The tuned model of one member on a copy of the base.

        Args:
            which: a stored key, or a problem (its nearest stored coefficients are used).
            merged: return the plain backbone with the delta merged (:meth:`LoTRAModel.merge_and_unload`)
                instead of the :class:`LoTRAModel`.
        """
        if not isinstance(which, str):
            hit = self.nearest(which)
            if hit is None:
                raise ValueError(f"AdapterBank.model: no stored adapter is comparable with {which!r} (different "
                                 f"problem or parameter names); add one first.")
            which = hit[0]
        state = self.adapter_state(which)
        adapted = inject_lotra(self._start_model(state.pop(MIX, None)), self.lotra)
        adapted.load_adapter_state(state)
        return adapted.merge_and_unload() if merged else adapted

    def _start_model(self, mix=None) -> nn.Module:
        """What an adapter goes on: a copy of the base, or a family base's heads mixed with ``mix``."""
        base = copy.deepcopy(self.base_model)
        return MixedHeads(base, mix=mix) if self.is_family else base

    # --- training ----------------------------------------------------------------------------------------
    def add(self, problem, key: Optional[str] = None, *, warm_start: bool = True,
            config: Optional[TrainConfig] = None, lr: Optional[float] = None, callbacks: Iterable = ()) -> Solution:
        """Train the adapter of ``problem`` and store it under ``key`` (default ``"set<i>"``).

        Args:
            problem: a member of the base problem's family (same name and parameter names).
            warm_start: start from the adapter of the nearest stored coefficients instead of a zero core —
                unless the base problem's coefficients are nearer still (then the base itself is the start).
            config, lr: override the bank's training config / LoTRA base rate for this member.
            callbacks: as for :func:`~pde_kan.solvers.solve`.

        Returns:
            The member's :class:`~pde_kan.solvers.Solution`; ``attrs["bank"]`` has the key, the warm-start key
            and its distance.
        """
        key = self._new_key(key)
        signature, vector = coefficient_vector(problem)
        hit = self.nearest(problem, include_base=True) if warm_start else None
        if hit is not None and hit[0] is None:  # the base is nearest: start from a zero delta
            hit = None
        start = self.adapter_state(hit[0]) if hit is not None else None
        if start is not None:
            start.pop(MIX, None)  # a family member's mix is fitted to its own problem below
        t0 = time.perf_counter()
        model = mix_heads(problem, self.base_model) if self.is_family else self.base_model
        sol = transfer(problem, model, method="lotra", config=config or self.config, lotra=self.lotra,
                       lr=lr if lr is not None else self.lr, warm_start=start, callbacks=callbacks,
                       sampling=self.sampling)
        seconds = time.perf_counter() - t0
        losses = [row["loss"] for row in sol.history if "loss" in row]
        metrics = {k: v for k, v in sol.metrics.items() if _is_number(v)}
        metrics.update({"final_loss": losses[-1] if losses else None, "train_seconds": seconds})
        store = BANK_DTYPES[self.dtype]
        tensors = {k: v.to(store) for k, v in sol.model.adapter_state().items()}
        if self.is_family:
            tensors[MIX] = model.mix.detach().to(store)
        self.entries[key] = BankEntry(problem=problem.params(), signature=signature, vector=vector, tensors=tensors,
                                      metrics=metrics, warm_start_from=hit[0] if hit else "")
        sol.attrs["bank"] = {"key": key, "warm_start_from": hit[0] if hit else None,
                             "warm_start_distance": hit[1] if hit else None}
        if self.path is not None:
            self.save()
        return sol

    def train(self, problems: Sequence, keys: Optional[Sequence[str]] = None, **kwargs) -> list[Solution]:
        """:meth:`add` every problem in order (each warm-starts from the nearest one stored before it)."""
        problems = list(problems)
        if keys is not None and len(keys) != len(problems):
            raise ValueError(f"AdapterBank.train: keys has {len(keys)} entries for {len(problems)} problems; pass one "
                             f"key per problem or none.")
        return [self.add(p, None if keys is None else keys[i], **kwargs) for i, p in enumerate(problems)]

    def _new_key(self, key: Optional[str]) -> str:
        if key is None:
            i = len(self.entries)
            while f"set{i}" in self.entries:
                i += 1
            return f"set{i}"
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise ValueError(f"AdapterBank: key must be 1-128 characters of letters, digits and _.:=+-, got {key!r}.")
        if key in self.entries:
            raise ValueError(f"AdapterBank: key {key!r} is already stored; pass another key or remove() it first.")
        return key

    def remove(self, key: str) -> None:
        """Drop one member (and rewrite the file when the bank has a path)."""
        self._entry(key)
        del self.entries[key]
        if self.path is not None:
            self.save()

    # --- persistence -------------------------------------------------------------------------------------
    def save(self, path=None) -> Path:
        """Write the bank to ``path`` (default: the bank's own path) atomically; returns the path."""
        path = Path(path) if path is not None else self.path
        if path is None:
            raise ValueError("AdapterBank.save: the bank has no path; pass save(path).")
        atomic_write(path, self._write)
        return path

    def _write(self, tmp) -> None:
        layout = self._layout()
        members = [{"key": k, "problem": e.problem, "signature": e.signature, "vector": e.vector.tolist(),
                    "metrics": e.metrics, "warm_start_from": e.warm_start_from} for k, e in self.entries.items()]
        n = sum(math.prod(shape) for _, shape in layout)
        matrix = np.zeros((len(members), n), dtype=np.dtype(self.dtype))
        for row, e in enumerate(self.entries.values()):
            matrix[row] = np.concatenate([e.tensors[name].detach().cpu().reshape(-1).numpy() for name, _ in layout])
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": BANK_FORMAT, "format_version": BANK_VERSION, "base_hash": self.base_hash,
                            "base_config": json.dumps(self.base_model.config),
                            "lotra": json.dumps(self.lotra.to_dict()), "dtype": self.dtype, "lr": self.lr,
                            "layout": json.dumps(layout), "members": json.dumps(members),
                            "base_problem": json.dumps(None if self._base_vector is None else
                                                       [self._base_vector[0], self._base_vector[1].tolist()])})
            f.create_dataset("adapters", data=matrix)

    def _layout(self) -> list[tuple[str, list[int]]]:
        """``[(tensor name, shape), ...]``: one row of the ``adapters`` matrix, the same for every member."""
        probe = inject_lotra(self._start_model(), self.lotra).adapter_state()
        extra = [(MIX, [self.base_model.out_features])] if self.is_family else []
        return [(name, list(t.shape)) for name, t in probe.items()] + extra

    @classmethod
    def load(cls, path, base, *, config: Optional[TrainConfig] = None) -> "AdapterBank":
        """Read a bank written by :meth:`save` onto ``base`` (the same base model it was trained on: its weights
        hash is checked). Later :meth:`add` calls write back to ``path``."""
        path = Path(path)
        with open_hdf5(path, BANK_FORMAT, what=f"AdapterBank.load: {str(path)!r}",
                       written_by="a file written by AdapterBank.save", kind="an adapter bank",
                       not_hdf5="is not an HDF5 file ({e})") as f:
            lotra = LoTRAConfig.from_dict(json.loads(f.attrs["lotra"]))
            bank = cls(base, None, lotra=lotra, config=config, lr=float(f.attrs["lr"]), dtype=str(f.attrs["dtype"]))
            if bank.base_hash != f.attrs["base_hash"]:
                raise ValueError(f"AdapterBank.load: the bank in {str(path)!r} was trained on different base weights "
                                 f"(base hash {f.attrs['base_hash'][:12]}..., this model {bank.base_hash[:12]}...); "
                                 f"load it onto the base model it was trained from.")
            layout = json.loads(f.attrs["layout"])
            if [list(x) for x in bank._layout()] != [list(x) for x in layout]:
                raise ValueError(f"AdapterBank.load: the adapters in {str(path)!r} do not fit this base model and "
                                 f"LoTRAConfig (tensor layout differs).")
            stored_base = json.loads(f.attrs.get("base_problem", "null"))
            if bank._base_vector is None and stored_base is not None:
                bank._base_vector = (stored_base[0], np.asarray(stored_base[1], dtype=np.float64))
            matrix = np.asarray(f["adapters"][()])
            for row, m in zip(matrix, json.loads(f.attrs["members"])):
                tensors, offset = {}, 0
                for name, shape in layout:
                    size = math.prod(shape)
                    tensors[name] = torch.from_numpy(row[offset:offset + size].copy()).reshape(shape)
                    offset += size
                bank.entries[m["key"]] = BankEntry(problem=m["problem"], signature=m["signature"],
                                                   vector=np.asarray(m["vector"], dtype=np.float64), tensors=tensors,
                                                   metrics=m["metrics"], warm_start_from=m["warm_start_from"])
        bank.path = path
        return bank

    def __repr__(self) -> str:
        return f"AdapterBank({len(self)} adapters, dtype={self.dtype}, path={str(self.path) if self.path else None})"


def train_family(base, sets: Union[str, os.PathLike, Sequence], template=None, *, path=None,
                 lotra: Optional[LoTRAConfig] = None, config: Optional[TrainConfig] = None,
                 lr: Optional[float] = None, dtype: str = "float32", callbacks: Iterable = (), sampling=None
                 ) -> tuple[AdapterBank, list[Solution]]:
    """One call for a family: build an :class:`AdapterBank` on ``base`` and train every set in ``sets``.

    Args:
        base: as for :class:`AdapterBank`.
        sets: a ``.toml`` / ``.csv`` file (:func:`read_family`, needs ``template``: the source problem) or a
            sequence of problems or ``(key, problem)`` pairs.
        template: the problem whose parameters the file's sets change (default: the base solution's problem).
        path, lotra, config, lr, dtype: as for :class:`AdapterBank`.

    Returns:
        ``(bank, solutions)`` in the order of ``sets``.
    """
    if isinstance(sets, (str, os.PathLike)):
        if template is None:
            template = getattr(base, "problem", None)
        if template is None:
            raise ValueError("train_family: reading sets from a file needs template= (the source problem whose "
                             "parameters the sets change) when base is not a Solution with a problem.")
        sets = read_family(sets, template)
    pairs = [s if isinstance(s, tuple) else (None, s) for s in sets]
    bank = AdapterBank(base, path, lotra=lotra, config=config, lr=lr, dtype=dtype, sampling=sampling)
    sols = [bank.add(p, k, callbacks=callbacks) for k, p in pairs]
    return bank, sols
