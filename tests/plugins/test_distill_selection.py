"""The ``distill`` compressor's layer selection (uniform, first, list) and its options, without a model."""

from __future__ import annotations

from typing import Any

import pytest
from greenprune_builtins.distill import Distill, DistillOptions, greenprune_register_compressors
from greenprune_builtins.distill_student import default_layers, hidden_state_pairs, layer_map, select_layers
from pydantic import ValidationError

from greenprune.components import Component
from greenprune.errors import UserError

# ---------------------------------------------------------------------------------------------
# Layer selection
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "k", "expected"), [
    (2, 2, [0, 1]), (2, 1, [1]), (2, None, [0, 1]),
    (3, 2, [0, 2]), (3, None, [0, 2]), (3, 1, [2]),
    (4, 2, [1, 3]), (4, 3, [0, 1, 3]), (4, None, [1, 3]),
    (6, 2, [2, 5]), (6, 3, [1, 3, 5]), (6, None, [2, 5]),
    (12, 4, [2, 5, 8, 11]), (12, 6, [1, 3, 5, 7, 9, 11]), (12, None, [2, 5, 8, 11]),
    (24, 6, [3, 7, 11, 15, 19, 23]), (24, None, [2, 5, 8, 11, 14, 17, 20, 23]),
])
def test_uniform_selection(depth: int, k: int | None, expected: list[int]) -> None:
    assert select_layers(depth, k, "uniform") == expected


def test_uniform_selection_is_spread_and_ends_with_the_last_layer_for_every_depth() -> None:
    for depth in range(1, 25):
        for k in range(1, depth + 1):
            keep = select_layers(depth, k)
            assert len(keep) == k and keep[-1] == depth - 1
            gaps = [b - a for a, b in zip([-1, *keep[:-1]], keep, strict=True)]
            assert min(gaps) >= 1 and max(gaps) - min(gaps) <= 1, (depth, k, keep)  # near-equal blocks
        assert select_layers(depth, depth) == list(range(depth))


@pytest.mark.parametrize(("depth", "k"), [(2, 1), (3, 2), (4, 3), (6, 2), (12, 4), (24, 8)])
def test_first_selection(depth: int, k: int) -> None:
    assert select_layers(depth, k, "first") == list(range(k))


@pytest.mark.parametrize(("depth", "expected"), [(1, 1), (2, 2), (3, 2), (4, 2), (6, 2), (12, 4), (24, 8)])
def test_default_layers(depth: int, expected: int) -> None:
    assert default_layers(depth) == expected


def test_list_selection_sorts() -> None:
    assert select_layers(12, None, "list", [11, 0, 5]) == [0, 5, 11]
    assert select_layers(6, 2, "list", [5, 1]) == [1, 5]


@pytest.mark.parametrize(("depth", "k", "selection", "keep", "match"), [
    (4, 5, "uniform", None, r"layers=5 is outside 1\.\.4"),
    (4, 0, "uniform", None, r"layers=0 is outside 1\.\.4"),
    (4, -1, "first", None, r"layers=-1"),
    (12, None, "list", [0, 12], r"layer\(s\) \[12\] outside 0\.\.11"),
    (12, None, "list", [-1, 3], r"\[-1\]"),
    (12, None, "list", [3, 1, 3], r"repeats layer\(s\) \[3\]"),
    (12, None, "list", None, r"needs keep"),
    (12, 3, "list", [1, 2], r"layers=3 but keep=\[1, 2\]"),
])
def test_bad_selections_are_user_errors(depth: int, k: int | None, selection: Any, keep: list[int] | None,
                                        match: str) -> None:
    with pytest.raises(UserError, match=match):
        select_layers(depth, k, selection, keep)


def test_layer_map_and_hidden_state_pairs() -> None:
    assert layer_map([2, 5, 8, 11]) == {0: 2, 1: 5, 2: 8, 3: 11}
    assert hidden_state_pairs({0: 2, 1: 5}) == [(0, 0), (1, 3), (2, 6)]


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def _component() -> Component:
    found: list[Component] = []
    greenprune_register_compressors(found.append)
    (component,) = found
    component.kind = "compressor"
    return component


def test_registered_with_its_options() -> None:
    component = _component()
    assert component.name == "distill" and component.options is DistillOptions
    assert isinstance(component.build({"layers": 2}), Distill)


def test_options_defaults_and_keep_implies_list() -> None:
    opts = DistillOptions()
    assert (opts.layers, opts.selection, opts.temperature, opts.alpha_kd, opts.alpha_hidden, opts.alpha_hard) == (
        None, "uniform", 2.0, 1.0, 1.0, 0.0)
    assert DistillOptions(keep=[0, 3]).selection == "list"


@pytest.mark.parametrize(("raw", "match"), [
    ({"keep": [1, 1, 2]}, r"repeats layer\(s\) \[1\]"),
    ({"keep": [-2, 1]}, r"negative layer\(s\) \[-2\]"),
    ({"keep": []}, "keep is empty"),
    ({"keep": [0, 3], "selection": "first"}, "needs selection='list'"),
    ({"selection": "list"}, "needs keep"),
    ({"keep": [0, 3], "layers": 3}, r"layers=3 but keep=\[0, 3\]"),
    ({"alpha_kd": 0, "alpha_hidden": 0}, "nothing to train on"),
    ({"temperature": 0}, "temperature"),
    ({"layer": 2}, "layer"),
    ({"augment": 2, "alpha_hard": 0.5}, "no gold label"),
    ({"augment": 2, "augment_mask_p": 0, "augment_drop_p": 0}, "equal the originals"),
])
def test_bad_options_are_user_errors(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        DistillOptions.model_validate(raw)
    with pytest.raises(UserError, match="distill"):
        _component().validate_options(raw)
