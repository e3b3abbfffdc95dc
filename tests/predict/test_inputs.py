"""Collecting inputs (folder, glob, list file) and mirroring the input tree in the output paths."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from segattn.predict.inputs import collect_inputs, output_paths


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


def _rels(images: list) -> list[str]:
    return [im.rel.as_posix() for im in images]


def test_folder_is_searched_recursively_skipping_hidden_non_images_and_the_output(tmp_path: Path) -> None:
    _touch(tmp_path, "a.png", "sub/b.JPG", "sub/deep/c.tiff", "d.bmp", "notes.txt", ".hidden/e.png", ".f.png.1.tmp")
    _touch(tmp_path, "out/a.png")  # an earlier run's output inside the input folder
    images = collect_inputs(str(tmp_path), exclude=tmp_path / "out")
    assert _rels(images) == ["a.png", "d.bmp", "sub/b.JPG", "sub/deep/c.tiff"]


def test_glob_keeps_paths_relative_to_its_fixed_prefix(tmp_path: Path) -> None:
    _touch(tmp_path, "scans/x/1.jpg", "scans/x/y/2.jpg", "scans/3.png")
    images = collect_inputs(str(tmp_path / "scans" / "**" / "*.jpg"))
    assert _rels(images) == ["x/1.jpg", "x/y/2.jpg"]


def test_list_file_resolves_relative_paths_and_keeps_missing_ones(tmp_path: Path) -> None:
    _touch(tmp_path, "data/a/1.png", "data/b/2.png")
    (tmp_path / "list.txt").write_text("# plans\ndata/a/1.png\n\n  data/b/2.png \ndata/b/missing.png\n")
    images = collect_inputs(str(tmp_path / "list.txt"))
    assert _rels(images) == ["a/1.png", "b/2.png", "b/missing.png"]  # root = deepest shared folder
    assert images[2].path == (tmp_path / "data/b/missing.png").resolve()  # reported as failed later


def test_nothing_found_names_the_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        collect_inputs(str(tmp_path / "nope"))
    _touch(tmp_path, "empty/readme.md")
    with pytest.raises(FileNotFoundError, match="no images found"):
        collect_inputs(str(tmp_path / "empty"))


def test_outputs_mirror_the_tree(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.png", "in/sub/b.jpg")
    images = collect_inputs(str(tmp_path / "in"))
    out = output_paths(images, tmp_path / "out", probs="png8", num_prob_channels=3, overlay=True)
    assert out[1].mask == tmp_path / "out/masks/sub/b.png"  # masks/ holds masks only: evaluate --pred reads it
    assert out[1].probs == tuple(tmp_path / f"out/probs/sub/b_c{k}.png" for k in range(3))
    assert out[1].overlay == tmp_path / "out/overlays/sub/b.jpg"
    npy = output_paths(images, tmp_path / "out", probs="npy", num_prob_channels=3)
    assert npy[0].probs == (tmp_path / "out/probs/a.npy",) and npy[0].overlay is None


def test_inputs_differing_only_by_extension_keep_distinct_outputs(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg", "in/a.png", "in/b.png")
    images = collect_inputs(str(tmp_path / "in"))
    assert images[0].rel == PurePosixPath("a.jpg")
    with pytest.warns(UserWarning, match="differ only by extension"):
        out = output_paths(images, tmp_path / "out")
    assert [o.mask.name for o in out] == ["a.jpg.png", "a.png.png", "b.png"]


def test_inputs_whose_outputs_differ_only_by_case_are_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.png", "in/A.png")  # one file on a case-insensitive disk (macOS, Windows)
    images = collect_inputs(str(tmp_path / "in"))
    with pytest.raises(ValueError, match="would both write"), pytest.warns(UserWarning):
        output_paths(images, tmp_path / "out", probs="png8")


def _inside(path: Path, folder: Path) -> bool:
    real, root = path.resolve(), folder.resolve()
    return root in real.parents


def test_a_dotdot_after_a_wildcard_never_leaves_the_output_folder(tmp_path: Path) -> None:
    # issue 11: "in/sub*/../../photos/*.png" kept the ".." and its mask replaced photos/keep.png
    _touch(tmp_path, "in/sub1/x.png", "photos/keep.png")
    images = collect_inputs(str(tmp_path / "in" / "sub*" / ".." / ".." / "photos" / "*.png"))
    assert all(".." not in im.rel.parts for im in images)
    outputs = output_paths(images, tmp_path / "out", probs="npy", overlay=True)
    assert all(_inside(p, tmp_path / "out") for o in outputs for p in o.all)


def test_every_input_form_with_symlinks_stays_inside_the_output(tmp_path: Path) -> None:
    _touch(tmp_path, "elsewhere/far.png", "in/a.png")
    (tmp_path / "in" / "link.png").symlink_to(tmp_path / "elsewhere" / "far.png")
    (tmp_path / "in" / "linkdir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "list.txt").write_text("in/a.png\nelsewhere/far.png\nin/linkdir/far.png\n")
    for spec in ("in", "in/*.png", "in/**/*.png", "list.txt", "in/../in/*.png"):
        images = collect_inputs(str(tmp_path / spec))
        outputs = output_paths(images, tmp_path / "out", probs="png8")
        assert all(_inside(p, tmp_path / "out") for o in outputs for p in o.all), spec


def test_an_output_tree_whose_symlink_points_outside_is_refused_before_writing(tmp_path: Path) -> None:
    _touch(tmp_path, "in/sub/a.png", "victim/keep.txt")
    (tmp_path / "out" / "masks").mkdir(parents=True)
    (tmp_path / "out" / "masks" / "sub").symlink_to(tmp_path / "victim", target_is_directory=True)
    images = collect_inputs(str(tmp_path / "in"))
    with pytest.raises(ValueError, match="outside --output"):
        output_paths(images, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "victim").iterdir()) == ["keep.txt"]


def test_an_output_that_is_an_input_image_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.jpg")
    (tmp_path / "out" / "masks").mkdir(parents=True)
    (tmp_path / "out" / "masks" / "a.png").symlink_to(tmp_path / "in" / "a.jpg")  # resolves to the input
    with pytest.raises(ValueError, match="outside --output|is the input image"):
        output_paths(collect_inputs(str(tmp_path / "in")), tmp_path / "out")
