r"""Per-component learning rates for LoTRA adapters, and why they scale as they do.

A LoTRA delta on a layer with ``n_o`` outputs, ``n_i`` inputs and a third mode of fixed size ``m`` (the
``n_basis`` spline coefficients, or MetaKAN's embedding size) is

    ΔC = alpha * G x1 U_out x2 U_in x3 U_basis,   G: (r_o, r_i, r_b),  U_out: (n_o, r_o),  U_in: (n_i, r_i),
                                                  U_basis: (m, r_b),

with the core ``G = 0`` at injection and factors with orthonormal columns, so the entries of ``U_out``,
``U_in``, ``U_basis`` are of order ``n_o^{-1/2}``, ``n_i^{-1/2}`` and ``1``. The ranks do not grow with width.

**What "efficient" means.** The layer output is ``y_j = sum_i sum_m C_jim F_im(x)`` with features
``F_im = B_m(x_i) = O(1)``. A fine-tuning step is useful when it changes every output coordinate by an amount
of order ``lr`` however wide the layer is — smaller and that component does not learn at large width, larger
and it destabilises training. The rule below makes the change of ``y`` caused by each component's Adam step
independent of ``n_o`` and ``n_i``.

**Adam's step.** On its first step with a nonzero gradient Adam moves every entry of a parameter by about
``±eta`` (``eta g / |g|`` after bias correction), with signs following the gradient. So the question is
only how a ``±eta`` change of each component propagates to ``y``. Write ``z_bc = sum_im U_in[i,b]
U_basis[m,c] F_im`` (order 1: a unit-norm column of ``U_in`` against order-1 features it is not aligned with),
``h_a = sum_bc G_abc z_bc`` and ``y_j = alpha sum_a U_out[j,a] h_a``.

1. *Step 1, the core.* With ``G = 0`` the factors have exactly zero gradient (``∂ΔC/∂U`` carries a factor
   ``G``), so only the core moves: ``δy_j = alpha sum U_out[j,a] δG_abc z_bc ~ alpha eta_core n_o^{-1/2}``.
   Scale-free requires ``eta_core ∝ n_o^{1/2}``. After a number of steps ``G ~ n_o^{1/2}``, which is exactly
   the size at which the adapter's own output ``alpha U_out G z`` is of order one per coordinate (entries of
   ``ΔC ~ n_i^{-1/2}``, the order of the base coefficients): the rule is self-consistent, and the factor steps
   below are taken at ``|G| = g ~ n_o^{1/2}``.
2. *Output factor.* ``δy_j = alpha sum_a δU_out[j,a] h_a ~ alpha eta_out g`` -> ``eta_out ∝ n_o^{-1/2}``.
3. *Input factor.* The signs of ``δU_in[i,b]`` follow ``sum_m U_basis[m,c] F_im``, so the sum over ``i`` in
   ``δz`` is coherent: ``δz ~ eta_in n_i`` and ``δy ~ alpha n_o^{-1/2} g eta_in n_i`` -> ``eta_in ∝ n_i^{-1}``.
4. *Basis factor.* ``m`` is fixed and ``sum_i U_in[i,b] F_im`` stays of order one: ``δy ~ alpha n_o^{-1/2}
   g eta_basis`` -> ``eta_basis ∝ 1``.

With a reference width ``n_ref`` at which every rate equals ``lr`` times its ratio::

    eta_core  = lr * rho_core  * (n_o / n_ref)^{1/2} * (n_i / n_ref)^{gamma}
    eta_out   = lr * rho_out   * (n_o / n_ref)^{-1/2}
    eta_in    = lr * rho_in    * (n_i / n_ref)^{beta}
    eta_basis = lr * rho_basis

with ``gamma = 0``, ``beta = -1`` when the delta is added to a stored coefficient tensor (KAN, Slim KAN:
:data:`DENSE_EXPONENTS`) and ``gamma = 1/2``, ``beta = -1/2`` for MetaKAN (:data:`EMBEDDING_EXPONENTS`).

**MetaKAN embeddings.** There the delta is added to the per-edge embeddings ``E (out, in, e)`` and reaches
``C`` through the frozen hypernet, ``δC_ji = J_ji δE_ji / n_i^{1/2}`` (the hypernet output is scaled by
``n_i^{-1/2}``, ``J_ji`` its Jacobian at edge ``ji``). Two things change. (a) Every change is damped by
``n_i^{-1/2}``; the core, the only component whose step is not multiplied by ``G``, makes up for it with
``gamma = 1/2`` (the factor steps are multiplied by ``g``, which then grows to ``(n_o n_i)^{1/2}`` and cancels
the damping). (b) The input factor's step reaches output ``j`` through ``J_ji``, which changes sign from edge to
edge (random embeddings on a ReLU hypernet), so the gradient's signs are not aligned with any one output's
sum over ``i``: that sum is incoherent, ``∝ n_i^{1/2}``, and ``beta = -1/2``. The tests' width probe run on MetaKAN
layers (4 seeds, widths 32..512, ``e = 1``) measured slopes of 0.00 / -0.03 / -0.47 / 0.00 (core / out / in /
basis) with ``beta = -1`` and 0.00 / -0.03 / 0.03 / 0.00 with ``beta = -1/2``.

This is the analogue of LoRA+'s ``eta_B / eta_A = Θ(n)`` for the Tucker case (``U_out`` plays ``B``'s role at
fixed column norm, ``U_in`` plays ``A``'s).

**Identical rates** (``"uniform"``) break this: the core's first step moves ``y`` by ``∝ n_o^{-1/2}`` (it stops
learning at large width), the input factor's by ``∝ n_o^{-1/2} n_i`` (it grows like ``n^{1/2}``) and the basis
factor's by ``∝ n_o^{-1/2}``; only the output factor's is width-free under both rules (at identical rates ``G``
stays of order ``lr``). For MetaKAN the identical-rate slopes are about -1 / -1/2 / -1/2 / -1.
``tests/test_transfer/test_rates.py`` measures these exponents with real Adam
steps on layers of width 32 to 512: slopes of ``log |δy|`` against ``log n`` near 0 for ``"lotra"``, near
``-1/2`` / ``+1/2`` for ``"uniform"``.

**The rank law.** The same steps at fixed width, now counting the ranks (``G`` entries of size ``g`` after
the core's first step, every sum coherent as above):

1. *Core*, step 1: ``δy = alpha eta_core U_out s`` with ``s_a = sum_bc sign(∂L/∂G_abc) z_bc``: the sum over
   the ``r_i r_b`` pairs ``(b, c)`` is coherent (``∝ r_i r_b``) and ``|U_out s| = r_o^{1/2} |s_a|`` (orthonormal
   columns): ``δy ∝ eta_core r_o^{1/2} r_i r_b`` -> ``eta_core ∝ r_o^{-1/2} r_i^{-1} r_b^{-1}``. After it,
   ``g ∝ eta_core`` and ``h_a = sum_bc G_abc z_bc ∝ g r_i r_b ∝ r_o^{-1/2}``.
2. *Output factor*: ``δy_j = alpha sum_a δU_out[j,a] h_a``, coherent over the ``r_o`` columns:
   ``∝ eta_out r_o h ∝ eta_out r_o^{1/2}`` -> ``eta_out ∝ r_o^{-1/2}``.
3. *Input and basis factors*: their steps reach ``y`` through ``G``, whose rank dependence the core's rate has
   already removed: ``eta_in, eta_basis ∝ 1``.

So every ``"lotra"`` rate above is also multiplied by :func:`rank_factors`,
``prod_k (r_k / r_k_ref)^{e_k}`` with the exponents :data:`RANK_EXPONENTS` and reference ranks
:data:`REFERENCE_RANKS` ``(4, 4, 3)`` (``LoTRAConfig.reference_ranks``). Without it (``"lotra_width"``) the first
steps grow like ``r^{1.75}`` .. ``r^{2.3}`` from rank 2 to full rank on a width-32 layer (the probe in
``tests/test_transfer/test_rates.py``); with it the slopes are -0.14 / -0.50 / -0.14 / -0.54 (core / out / in /
basis, all three ranks scaled together). The residual negative slope comes from the sums being only partly
coherent near full rank (a factor with ``r = n`` columns spans the whole space, so ``z`` cannot grow further);
one mode at a time the probe measured, before the law, ``r_o^{0.36..0.43}``, ``r_i^{0.66..0.82}``,
``r_b^{0.75..0.94}`` for the core (derived: 1/2, 1, 1). In training (Poisson two-body d = 10, KAN
[10, 32, 32, 1], targets c + 0.5 δ and 2c, 150 steps, base rates 3e-3 .. 3e-1, chosen on the training loss)
the best base rate under this law was 3e-2 or 1e-1 at every rank from (4, 4, 3) to full rank (32, 32, 9), and
3e-2 was within 1.5x of the best everywhere; the width law alone needed 3e-2, 3e-2, 1e-2, 3e-3 and at 3e-2 ended
6-10x worse at full rank. Retuned per rank, the width law alone was 1.0-1.5x better at ranks (8, 8, 6) and above
(the law slightly over-corrects the core, as the negative probe slopes say); see docs/transfer.md.

arXiv 2502.06153 makes the same point (identical rates train inefficiently) and derives component-specific
rates for its setting; the exponents above are derived here from the stated assumptions (Adam, orthonormal
factor initialisation, zero core, fixed ranks) and checked numerically, so compare them with the paper's
theorem before relying on them in a different parameterisation.
"""
from __future__ import annotations

from typing import Callable, Mapping

from .._checks import lookup, positive_float, positive_int

COMPONENTS = ("core", "out", "in", "basis")

# (exponent on n_o / n_ref, exponent on n_i / n_ref) of each component's rate
DENSE_EXPONENTS: dict[str, tuple[float, float]] = {"core": (0.5, 0.0), "out": (-0.5, 0.0), "in": (0.0, -1.0),
                                                   "basis": (0.0, 0.0)}
EMBEDDING_EXPONENTS: dict[str, tuple[float, float]] = {"core": (0.5, 0.5), "out": (-0.5, 0.0), "in": (0.0, -0.5),
                                                       "basis": (0.0, 0.0)}

# (exponent on r_o / r_o_ref, on r_i / r_i_ref, on r_b / r_b_ref) of each component's rate (the rank law)
RANK_EXPONENTS: dict[str, tuple[float, float, float]] = {"core": (-0.5, -1.0, -1.0), "out": (-0.5, 0.0, 0.0),
                                                        "in": (0.0, 0.0, 0.0), "basis": (0.0, 0.0, 0.0)}
REFERENCE_RANKS = (4, 4, 3)

RateRule = Callable[..., dict[str, float]]


def rank_factors(ranks, reference_ranks=REFERENCE_RANKS,
                 rank_exponents: Mapping[str, tuple[float, float, float]] = RANK_EXPONENTS) -> dict[str, float]:
    """``{component: prod_k (r_k / r_k_ref)^{e_k}}``: the rank law's multiplier of each component's rate."""
    out = {}
    for comp, exps in rank_exponents.items():
        f = 1.0
        for r, r0, e in zip(ranks, reference_ranks, exps):
            f *= (r / r0) ** e
        out[comp] = f
    return out


def lotra_rates(lr: float, n_out: int, n_in: int, *, ratios: Mapping[str, float], reference_width: int,
                exponents: Mapping[str, tuple[float, float]] = DENSE_EXPONENTS, ranks=None,
                reference_ranks=REFERENCE_RANKS) -> dict[str, float]:
    """The width- and rank-scaled rule derived in the module docstring: ``{component: rate}`` (no rank factor
    when ``ranks`` is None)."""
    rf = rank_factors(ranks, reference_ranks) if ranks is not None else {}
    return {comp: lr * ratios.get(comp, 1.0) * (n_out / reference_width) ** eo * (n_in / reference_width) ** ei
            * rf.get(comp, 1.0) for comp, (eo, ei) in exponents.items()}


def uniform_rates(lr: float, n_out: int, n_in: int, *, ratios: Mapping[str, float], reference_width: int,
                  exponents: Mapping[str, tuple[float, float]] = DENSE_EXPONENTS, ranks=None,
                  reference_ranks=REFERENCE_RANKS) -> dict[str, float]:
    """One rate for every component (the baseline the paper shows to be inefficient); ratios are ignored."""
    return {comp: lr for comp in COMPONENTS}


def lotra_width_rates(lr: float, n_out: int, n_in: int, *, ratios: Mapping[str, float], reference_width: int,
                      exponents: Mapping[str, tuple[float, float]] = DENSE_EXPONENTS, ranks=None,
                      reference_ranks=REFERENCE_RANKS) -> dict[str, float]:
    """The width law alone (the ``"lotra"`` rule before the rank law was added): ranks are ignored."""
    return lotra_rates(lr, n_out, n_in, ratios=ratios, reference_width=reference_width, exponents=exponents)


RATE_RULES: dict[str, RateRule] = {"lotra": lotra_rates, "lotra_width": lotra_width_rates, "uniform": uniform_rates}


def component_rates(rule: str, lr: float, n_out: int, n_in: int, *, ratios: Mapping[str, float] | None = None,
                    reference_width: int = 16,
                    exponents: Mapping[str, tuple[float, float]] = DENSE_EXPONENTS, ranks=None,
                    reference_ranks=REFERENCE_RANKS) -> dict[str, float]:
    """Learning rates of ``core``, ``out``, ``in``, ``basis`` for one layer of width ``n_in -> n_out``.

    Args:
        rule: a name in :data:`RATE_RULES` (``"lotra"`` or ``"uniform"``).
        lr: base learning rate.
        ratios: per-component multipliers (``"lotra"`` only).
        reference_width: width at which the ``"lotra"`` rates equal ``lr * ratio``.
        exponents: ``{component: (exponent of n_out / n_ref, exponent of n_in / n_ref)}`` of the ``"lotra"``
            rule: :data:`DENSE_EXPONENTS` (KAN, Slim KAN) or :data:`EMBEDDING_EXPONENTS` (MetaKAN).
        ranks: the layer's delta ranks ``(r_o, r_i, r_b)``; the ``"lotra"`` rates are then also multiplied by
            :func:`rank_factors` (the rank law, equal to 1 at ``reference_ranks``). None: width law only.
    """
    fn = lookup(RATE_RULES, "lr_rule", rule)
    lr = positive_float("lr", lr, owner="component_rates")
    n_out = positive_int("n_out", n_out, owner="component_rates")
    n_in = positive_int("n_in", n_in, owner="component_rates")
    if ranks is not None:
        ranks = tuple(positive_int("ranks", r, owner="component_rates") for r in ranks)
    return fn(lr, n_out, n_in, ratios=dict(ratios or {}), reference_width=reference_width,
              exponents=exponents, ranks=ranks, reference_ranks=tuple(reference_ranks))
