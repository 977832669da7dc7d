"""One Suite shape: the same run signature, callback signature and row keys in every validation suite; backbone
keywords from one flat settings mapping, read against each constructor."""
import inspect

import pytest
import torch

from pde_kan.nn import get_backbone
from pde_kan.validation import (ROW_KEYS, FunctionFittingSuite, ImageSuite, PDESuite, Suite, backbone_kwargs,
                                feynman_config, make_classifier, reference_backbones, run_feynman, run_images,
                                run_pde)
from pde_kan.validation.images import DIGITS


@pytest.mark.parametrize("cls", [FunctionFittingSuite, ImageSuite, PDESuite])
def test_every_suite_runs_with_the_same_signature(cls):
    assert issubclass(cls, Suite)
    assert list(inspect.signature(cls.run).parameters) == ["self", "backbones", "config", "callbacks"]


def test_every_runner_takes_the_same_common_keywords():
    common = {"backbones", "seed", "device", "out", "progress", "callbacks"}
    for fn in (run_feynman, run_images, run_pde):
        assert common <= set(inspect.signature(fn).parameters), fn.__name__


def test_callbacks_get_task_and_backbone_and_rows_carry_the_common_keys():
    seen = []
    suite = FunctionFittingSuite(["I.6.20a"], n_train=20, n_test=20)
    report = suite.run(("kan",), feynman_config(steps=1, device="cpu"),
                       callbacks=lambda task, backbone: seen.append((task, backbone)) or [])
    assert seen == [("I.6.20a", "kan")]
    (row,) = report.rows
    assert set(ROW_KEYS) <= set(row) and row["task"] == "I.6.20a" and row["params"] == 60 * 9


def test_backbone_kwargs_hands_each_constructor_its_own_keywords():
    settings = {"grid_size": 7, "ranks": (2, 2, 2), "hyper_hidden": 8, "activation": "sin", "seed": 3}
    assert backbone_kwargs("mlp", settings) == {"activation": "sin", "seed": 3}
    assert backbone_kwargs("kan", settings) == {"grid_size": 7, "seed": 3}
    assert backbone_kwargs("slimkan", settings) == {"grid_size": 7, "ranks": (2, 2, 2), "seed": 3}
    assert backbone_kwargs("metakan", settings) == {"grid_size": 7, "hyper_hidden": 8, "seed": 3}
    with pytest.raises(ValueError, match="backbone_kwargs: unknown backbone 'resnet'; valid names"):
        backbone_kwargs("resnet", settings)
    # a typo is taken by no constructor: an error naming it, never silently dropped
    with pytest.raises(ValueError, match=r"settings \['hyper_hiden'\] are keywords of no backbone constructor"):
        backbone_kwargs("kan", {"grid_size": 7, "hyper_hiden": 8})


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_reference_backbones_are_the_published_settings():
    """The flat settings build exactly the models the former per-backbone table built."""
    f = reference_backbones()
    spline = dict(grid_size=5, spline_order=3, grid_range=(-1.0, 1.0), seed=0, dtype=torch.float64)
    assert _same(f["kan"](3), get_backbone("kan", [3, 5, 5, 5, 1], **spline))
    assert _same(f["metakan"](3), get_backbone("metakan", [3, 5, 5, 5, 1], embedding_dim=1, hyper_hidden=16,
                                               share_hypernet=True, **spline))
    assert _same(f["slimkan"](3), get_backbone("slimkan", [3, 5, 5, 5, 1], ranks=(3, 3, 4), **spline))
    assert _same(f["mlp"](3), get_backbone("mlp", [3, 20, 20, 1], activation="tanh", seed=0, dtype=torch.float64))


@pytest.mark.parametrize("name", ["kan", "metakan", "slimkan", "mlp"])
def test_image_classifiers_are_the_presets_settings(name):
    p = DIGITS
    spline = dict(grid_size=p.grid_size, spline_order=p.spline_order, grid_range=p.grid_range)
    kwargs = {"kan": spline, "metakan": dict(spline, embedding_dim=p.embedding_dim, hyper_hidden=p.hyper_hidden,
                                             share_hypernet=p.share_hypernet, base_weight=p.metakan_base_weight),
              "slimkan": dict(spline, ranks=p.slim_ranks), "mlp": dict(activation=p.mlp_activation)}[name]
    net = get_backbone(name, [64, *p.hidden, 10], seed=2, dtype=torch.float32, **kwargs)
    assert _same(make_classifier(name, (1, 8, 8), 10, p, seed=2).backbone, net)
