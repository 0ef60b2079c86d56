"""Resolving --liver-label / --tumor-label values, and telling single-lesion names apart."""

from __future__ import annotations

import numpy as np
import pytest

from dicomio._label_names import is_single_lesion_name
from dicomio.errors import LabelError
from dicomio.labels import Role, select_segments
from dicomio.model import LabelMap, Segment
from tests.dicomio._label_targets import geometry_from

GEOMETRY = geometry_from((2, 3, 4))


def _labelmap(values: list[int]) -> LabelMap:
    labels = np.zeros(GEOMETRY.shape_zyx, dtype=np.uint8)
    for n, v in enumerate(values):
        labels.flat[n] = v
    return LabelMap(
        geometry=GEOMETRY,
        segments=tuple(Segment(number=v) for v in values),
        labels=labels,
        source_kind="labelmap",
    )


def _named(names: list[str], kind: str = "seg") -> LabelMap:
    masks = {n: np.zeros(GEOMETRY.shape_zyx, dtype=bool) for n in range(1, len(names) + 1)}
    segments = tuple(
        Segment(number=n, name=name, single_lesion=is_single_lesion_name(name))
        for n, name in enumerate(names, start=1)
    )
    return LabelMap(geometry=GEOMETRY, segments=segments, masks=masks, source_kind=kind)


@pytest.mark.parametrize(
    ("values", "spec", "role", "expected"),
    [
        ([1, 2], None, "liver", [1]),
        ([1, 2], None, "tumor", [2]),
        ([1, 2, 5], 5, "liver", [5]),
        ([1, 2, 5], "5", "tumor", [5]),
        ([1, 2, 5], " 2 ", "tumor", [2]),
        ([1, 2], "none", "tumor", []),
        ([1, 2], "NONE", "liver", []),
        ([1], "none", "tumor", []),
    ],
    ids=[
        "default-liver-1",
        "default-tumor-2",
        "int",
        "int-text",
        "int-text-spaces",
        "none",
        "none-case",
        "none-without-label-2",
    ],
)
def test_label_map_specs(
    values: list[int], spec: str | int | None, role: Role, expected: list[int]
) -> None:
    """Label maps: defaults 1 and 2, integers as label values, none as no structure."""
    assert select_segments(_labelmap(values), spec, role) == expected


@pytest.mark.parametrize(
    ("values", "spec", "role", "needle"),
    [
        ([1], None, "tumor", "--tumor-label none"),
        ([5, 6], None, "liver", "available labels: 5, 6"),
        ([1, 2], 3, "tumor", "no label 3"),
        ([1, 2], "liver", "liver", "no segment name matches"),
        ([1, 2], "", "liver", "is empty"),
    ],
    ids=["default-tumor-absent", "default-liver-absent", "unknown-int", "name-unnamed", "empty"],
)
def test_label_map_errors_list_available_labels(
    values: list[int], spec: str | int | None, role: Role, needle: str
) -> None:
    """An unknown or absent label is an error that lists the labels there are and how to choose."""
    with pytest.raises(LabelError) as info:
        select_segments(_labelmap(values), spec, role)
    assert needle in str(info.value)


NAMES = ["Liver", "Tumor 1", "tumour_2", "Spleen", "Liver metastasis", "lesion-3", "Aorta"]


@pytest.mark.parametrize(
    ("names", "spec", "role", "expected"),
    [
        (NAMES, None, "liver", [1]),
        (NAMES, None, "tumor", [2, 3, 5, 6]),
        (NAMES, "spleen", "liver", [4]),
        (NAMES, "tumo*", "tumor", [2, 3]),
        (NAMES, "*3", "tumor", [6]),
        (NAMES, "4", "tumor", [4]),
        (["liver", "liver_tumor"], None, "liver", [1]),
        (["liver", "liver_tumor"], None, "tumor", [2]),
        (["LIVER_WHOLE", "Lesion"], None, "liver", [1]),
        (["liver", "Metastases"], None, "tumor", [2]),
        (["Liver [seg]", "x"], "liver [seg]", "liver", [1]),
        (["a?b", "axb"], "a?b", "tumor", [1]),
    ],
    ids=[
        "default-liver",
        "default-tumor-all-kinds",
        "exact-name-case",
        "wildcard-prefix",
        "wildcard-suffix",
        "number",
        "liver-tumor-not-liver",
        "liver-tumor-is-tumor",
        "liver-prefix",
        "metastases",
        "brackets-literal",
        "question-mark-literal",
    ],
)
def test_named_specs(names: list[str], spec: str | None, role: Role, expected: list[int]) -> None:
    """SEG/RTSTRUCT: default name patterns, *-wildcards (only *), case-insensitive names."""
    assert select_segments(_named(names), spec, role) == expected


def test_named_default_without_match_says_how_to_choose() -> None:
    """A SEG without any tumour-like name asks for --tumor-label, listing numbers and names."""
    with pytest.raises(LabelError) as info:
        select_segments(_named(["Liver", "Spleen"]), None, "tumor")
    message = str(info.value)
    assert "1 (Liver), 2 (Spleen)" in message and "--tumor-label" in message


def test_unknown_name_lists_the_names() -> None:
    """A name that matches nothing lists the available segments."""
    with pytest.raises(LabelError, match=r"1 \(Liver\)"):
        select_segments(_named(["Liver"]), "kidney*", "liver")


def test_role_and_type_are_checked() -> None:
    """Only the liver and tumour roles exist; a bool is not a label."""
    with pytest.raises(ValueError, match="role"):
        select_segments(_named(["Liver"]), None, "spleen")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        select_segments(_named(["Liver"]), True, "liver")


@pytest.mark.parametrize(
    ("name", "single"),
    [
        ("Tumor 1", True),
        ("tumour_02", True),
        ("lesion-3", True),
        ("Metastasis 4", True),
        ("liver lesion 2", True),
        ("Met 5", True),
        ("TL1", True),
        ("NTL 2", True),
        ("Tumor", False),
        ("Tumors", False),
        ("Liver", False),
        ("Tumor Bed", False),
        ("lesions", False),
        ("Segment_1", False),
        ("liver", False),
    ],
)
def test_single_lesion_names(name: str, single: bool) -> None:
    """Names of one numbered lesion mark a segment as a single lesion; plural/generic do not."""
    assert is_single_lesion_name(name) is single
