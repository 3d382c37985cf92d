"""bnnfer.data: both FER+ layouts, vote filtering and renormalisation, human statistics, the
cache (hit, invalidation, partial files), data-folder resolution, and errors that name the file
and row."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.fakeferplus import write_folder_layout, write_kaggle_layout
from PIL import Image

from bnnfer import data
from bnnfer.data.ferplus import load_ferplus
from bnnfer.data.split import FerPlusError


def test_folder_layout_loads_every_split_with_drops_reported(fake_ferplus):
    root, made = fake_ferplus
    splits = load_ferplus(root)
    assert list(splits) == ["train", "valid", "test"]
    for name, split in splits.items():
        images, votes, names = made[name]
        # rows 0, 1, 2 are dropped (unknown, NF, no emotion vote); row 3 (a tie) is kept
        assert split.dropped == {"unknown": 1, "NF": 1, "no_emotion_votes": 1}
        assert split.num_dropped == 3
        assert len(split) == len(images) - 3
        np.testing.assert_array_equal(split.images, images[3:])
        np.testing.assert_array_equal(split.votes, votes[3:])
        assert list(split.names) == names[3:]
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (48, 48)
        assert split.votes.shape == (len(split), 10)


def test_kaggle_layout_gives_the_same_dataset_as_the_folder_layout(fake_ferplus, tmp_path):
    root, made = fake_ferplus
    kaggle = tmp_path / "kaggle"
    write_kaggle_layout(kaggle, made)
    assert data.detect_layout(kaggle) == "kaggle"
    assert data.available_splits(kaggle) == ["train", "valid", "test"]
    from_folders = load_ferplus(root)
    from_kaggle = load_ferplus(kaggle)
    for name in from_folders:
        a, b = from_folders[name], from_kaggle[name]
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.votes, b.votes)
        np.testing.assert_array_equal(a.names, b.names)
        assert a.dropped == b.dropped
    # served from the cache the second time, identical again
    again = load_ferplus(kaggle, splits=["valid"])
    np.testing.assert_array_equal(again["valid"].images, from_kaggle["valid"].images)


def test_any_subset_of_splits_may_be_present(tmp_path):
    write_folder_layout(tmp_path, {"valid": 10})
    assert data.available_splits(tmp_path) == ["valid"]
    assert list(load_ferplus(tmp_path)) == ["valid"]
    with pytest.raises(FerPlusError, match=r"FER2013Test.*split 'test' is not here"):
        load_ferplus(tmp_path, splits=["test"])
    with pytest.raises(ValueError, match="unknown split"):
        load_ferplus(tmp_path, splits=["training"])


def test_vote_renormalisation_and_human_statistics_by_hand():
    votes = np.array(
        [
            [10, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # unanimous neutral
            [4, 4, 0, 0, 0, 0, 0, 0, 2, 0],  # tie: renormalised 1/2, 1/2; plurality neutral
            [1, 2, 3, 0, 0, 0, 0, 2, 1, 1],  # 8 emotion votes
        ]
    )
    stats = data.human_statistics(votes)
    np.testing.assert_allclose(stats["distribution"][0], np.eye(8)[0])
    np.testing.assert_allclose(stats["distribution"][1], [0.5, 0.5, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(stats["distribution"][2], [1 / 8, 2 / 8, 3 / 8, 0, 0, 0, 0, 2 / 8])
    np.testing.assert_allclose(stats["entropy"][:2], [0.0, np.log(2)])
    p = np.array([1, 2, 3, 2]) / 8
    np.testing.assert_allclose(stats["entropy"][2], -(p * np.log(p)).sum())
    np.testing.assert_allclose(stats["agreement"], [1.0, 0.5, 3 / 8])
    np.testing.assert_array_equal(stats["valid_votes"], [10, 8, 8])
    np.testing.assert_array_equal(stats["plurality"], [0, 0, 2])
    np.testing.assert_array_equal(stats["unanimous"], [True, False, False])


def test_filter_rules():
    votes = np.array(
        [
            [3, 0, 0, 0, 0, 0, 0, 0, 4, 3],  # unknown plurality -> dropped
            [3, 0, 0, 0, 0, 0, 0, 0, 3, 4],  # NF plurality -> dropped
            [4, 0, 0, 0, 0, 0, 0, 0, 4, 2],  # tie emotion/unknown -> kept
            [0, 0, 0, 0, 0, 0, 0, 0, 6, 4],  # no emotion vote -> dropped
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # a single vote -> kept
        ]
    )
    keep, dropped = data.filter_emotion_faces(votes)
    np.testing.assert_array_equal(keep, [False, False, True, False, True])
    assert dropped == {"unknown": 1, "NF": 1, "no_emotion_votes": 1}
    with pytest.raises(ValueError, match="row 3 has no emotion vote"):
        data.vote_distribution(votes)


def test_cache_is_hit_then_invalidated_when_a_source_changes(fake_ferplus, isolated_cache):
    root, _ = fake_ferplus
    first = load_ferplus(root, splits=["valid"])
    cached = list(isolated_cache.glob("ferplus-valid-*.npz"))
    assert len(cached) == 1
    # a second load reads the cache, not the PNGs: break a PNG and it still loads
    png = root / "FER2013Valid" / first["valid"].names[0]
    original = png.read_bytes()
    stat = png.stat()
    png.write_bytes(b"not a png at all")
    os.utime(png, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # keep mtime...
    # ...but the size changed, so the fingerprint changed and the PNG is decoded again
    with pytest.raises(FerPlusError, match="cannot be decoded"):
        load_ferplus(root, splits=["valid"])
    png.write_bytes(original)
    os.utime(png, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = load_ferplus(root, splits=["valid"])
    np.testing.assert_array_equal(again["valid"].images, first["valid"].images)

    # editing a vote in label.csv gives a new cache entry with the new vote
    label = root / "FER2013Valid" / "label.csv"
    rows = list(csv.reader(label.open()))
    rows[5][2:] = ["0", "10", "0", "0", "0", "0", "0", "0", "0", "0"]
    with open(label, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    edited = load_ferplus(root, splits=["valid"])
    index = list(edited["valid"].names).index(rows[5][0])
    assert edited["valid"].votes[index].tolist() == [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]
    assert len(list(isolated_cache.glob("ferplus-valid-*.npz"))) == 2


def test_partial_cache_file_is_rebuilt_not_read(fake_ferplus, isolated_cache):
    root, _ = fake_ferplus
    first = load_ferplus(root, splits=["train"])
    (cache_file,) = isolated_cache.glob("ferplus-train-*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:500])  # a write cut short
    second = load_ferplus(root, splits=["train"])
    np.testing.assert_array_equal(second["train"].images, first["train"].images)
    assert np.load(cache_file)["images"].shape == (40, 48, 48)  # rewritten whole


def test_cache_can_be_switched_off(fake_ferplus, isolated_cache):
    root, _ = fake_ferplus
    load_ferplus(root, cache_dir=False)
    assert not list(isolated_cache.iterdir())


def test_data_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert data.resolve_data_dir(None) == Path("data") / "ferplus"
    monkeypatch.setenv("BNNFER_DATA", str(tmp_path / "env"))
    assert data.resolve_data_dir(None) == tmp_path / "env"
    assert data.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_missing_folder_says_where_it_looked_and_what_it_wants(tmp_path):
    with pytest.raises(FerPlusError, match=r"nowhere: no such folder.*FER2013Train"):
        load_ferplus(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FerPlusError, match=r"empty: no FER\+ data here.*fer2013new.csv"):
        load_ferplus(tmp_path / "empty")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["fer0028641.png", "(0, 0, 48, 48)", "1", "2"], r"row 4: has 4 columns, expected 12"),
        (
            ["fer0028641.png", "(0, 0, 48, 48)", "x", *["0"] * 9],
            r"row 4: vote column 'neutral' is 'x', expected a whole number",
        ),
        (
            ["fer0028641.png", "(0, 0, 48, 48)", "1", "-2", *["0"] * 8],
            r"row 4: vote column 'happiness' is -2, expected a count >= 0",
        ),
        (
            ["fer0028638.png", "(0, 0, 48, 48)", "10", *["0"] * 9],
            r"row 4: image name 'fer0028638.png' repeats row 1",
        ),
        (["../etc/passwd", "(0, 0, 48, 48)", "10", *["0"] * 9], r"row 4: image name"),
    ],
)
def test_malformed_label_rows_name_file_row_and_expectation(fake_ferplus, row, message):
    root, _ = fake_ferplus
    label = root / "FER2013Valid" / "label.csv"
    rows = list(csv.reader(label.open()))
    rows[3] = row
    with open(label, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(FerPlusError, match="label.csv, " + message) as caught:
        load_ferplus(root, splits=["valid"])
    assert caught.value.row == 4


def test_missing_or_wrong_size_image_is_named(fake_ferplus):
    root, made = fake_ferplus
    folder = root / "FER2013Valid"
    (folder / made["valid"][2][5]).unlink()
    with pytest.raises(FerPlusError, match=r"fer0028643.png: image listed in label.csv is missing"):
        load_ferplus(root, splits=["valid"])
    Image.new("L", (64, 48)).save(folder / made["valid"][2][5])
    with pytest.raises(FerPlusError, match=r"fer0028643.png: image is 64x48, expected 48x48"):
        load_ferplus(root, splits=["valid"])


def test_empty_label_file_is_refused(fake_ferplus):
    root, _ = fake_ferplus
    (root / "FER2013Test" / "label.csv").write_text("")
    with pytest.raises(FerPlusError, match=r"label\.csv: label file has no rows"):
        load_ferplus(root, splits=["test"])


def test_kaggle_pixel_string_of_wrong_length_is_named(fake_ferplus, tmp_path):
    _, made = fake_ferplus
    kaggle = tmp_path / "kaggle"
    write_kaggle_layout(kaggle, made)
    lines = (kaggle / "fer2013.csv").read_text().splitlines()
    emotion, pixels, usage = lines[4].split(",")
    lines[4] = ",".join([emotion, " ".join(pixels.split()[:-1]), usage])
    (kaggle / "fer2013.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(FerPlusError, match=r"fer2013.csv, row 5: pixels hold 2303 values"):
        load_ferplus(kaggle, cache_dir=False)


def test_kaggle_files_out_of_step_are_refused(fake_ferplus, tmp_path):
    _, made = fake_ferplus
    kaggle = tmp_path / "kaggle"
    write_kaggle_layout(kaggle, made)
    lines = (kaggle / "fer2013new.csv").read_text().splitlines()
    (kaggle / "fer2013new.csv").write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(FerPlusError, match=r"fer2013new.csv, row \d+: ends before the other"):
        load_ferplus(kaggle, cache_dir=False)


def test_describe_summarises_a_split(fake_ferplus):
    root, _ = fake_ferplus
    summary = data.describe(load_ferplus(root, splits=["train"])["train"])
    assert summary["faces"] == 37
    assert sum(summary["class_counts"].values()) == 37
    assert 0 < summary["mean_agreement"] <= 1
    assert summary["dropped"]["unknown"] == 1


@pytest.mark.ferplus
def test_real_ferplus_counts_and_cached_reload_speed(real_ferplus):
    """The shared FER+ copy: the documented counts, and a cached reload well under 2 s."""
    splits = load_ferplus(real_ferplus, splits=["train", "valid"])
    assert len(splits["train"]) + splits["train"].num_dropped == 28558
    assert len(splits["valid"]) + splits["valid"].num_dropped == 3579
    assert len(splits["valid"]) == 3555
    started = time.perf_counter()
    again = load_ferplus(real_ferplus, splits=["train", "valid"])
    elapsed = time.perf_counter() - started
    np.testing.assert_array_equal(again["valid"].images, splits["valid"].images)
    print(f"cached reload of Train+Valid: {elapsed:.2f} s")


def test_kaggle_csv_without_its_header_is_refused(fake_ferplus, tmp_path):
    _, made = fake_ferplus
    kaggle = tmp_path / "kaggle"
    write_kaggle_layout(kaggle, made)
    lines = (kaggle / "fer2013.csv").read_text().splitlines()
    (kaggle / "fer2013.csv").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(FerPlusError, match=r"fer2013.csv, row 1: header is .* expected"):
        load_ferplus(kaggle, cache_dir=False)


def test_kaggle_negative_vote_and_unknown_usage_are_named(fake_ferplus, tmp_path):
    _, made = fake_ferplus
    kaggle = tmp_path / "kaggle"
    write_kaggle_layout(kaggle, made)
    path = kaggle / "fer2013new.csv"
    lines = path.read_text().splitlines()
    cells = lines[6].split(",")
    path.write_text("\n".join([*lines[:6], ",".join([*cells[:2], "-1", *cells[3:]]), *lines[7:]]))
    with pytest.raises(FerPlusError, match=r"fer2013new.csv, row 7: vote column 'neutral' is -1"):
        load_ferplus(kaggle, cache_dir=False)
    lines[6] = ",".join(["Validation", *cells[1:]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FerPlusError, match=r"row 7: Usage is 'Validation', expected one of"):
        load_ferplus(kaggle, cache_dir=False)


def _ferplus_majority(counts: list[int]) -> int | None:
    """microsoft/FERPlus src/ferplus.py, majority mode, written out literally: single votes
    are outliers, the peak must hold more than half of what remains, and a peak on unknown or
    NF (or no peak) means the face is left out. The kept face's label, or None."""
    emotion_raw = [float(c) for c in counts]
    size = len(emotion_raw)
    for i in range(size):
        if emotion_raw[i] < 1.0 + 1e-12:
            emotion_raw[i] = 0.0
    sum_list = sum(emotion_raw)
    emotion = [0.0] * size
    maxval = max(emotion_raw)
    if maxval > 0.5 * sum_list:
        emotion[int(np.argmax(emotion_raw))] = maxval
    else:
        emotion[size - 2] = 1.0  # unknown
    idx = int(np.argmax(emotion))
    return idx if idx < 8 else None


def test_barsoum_majority_matches_the_ferplus_rule():
    from bnnfer.data.votes import barsoum_majority

    hand_made = np.array([
        [10, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # unanimous neutral: kept
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # a tie at half: out
        [6, 4, 0, 0, 0, 0, 0, 0, 0, 0],  # 6 of 10: kept, neutral
        [4, 1, 1, 1, 1, 1, 1, 0, 0, 0],  # the single votes go: 4 of 4, kept
        [3, 0, 0, 0, 0, 0, 0, 0, 4, 0],  # unknown holds 4 of 7: out
        [4, 0, 0, 0, 0, 0, 0, 0, 2, 2],  # 4 of 8 with unknown and NF counted: out
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face: out
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # every vote single: nothing remains, out
        [0, 0, 2, 0, 0, 0, 0, 0, 0, 1],  # surprise 2 of 2 once NF's single vote goes: kept
    ])  # fmt: skip  # table layout: one vote row a line
    keep, labels = barsoum_majority(hand_made)
    assert keep.tolist() == [True, False, True, True, False, False, False, False, True]
    assert labels[keep].tolist() == [0, 0, 0, 2]
    rng = np.random.default_rng(0)  # peaked and flat vote rows alike
    random_votes = np.stack(
        [rng.multinomial(10, rng.dirichlet(np.full(10, 0.4))) for _ in range(500)]
    )
    keep, labels = barsoum_majority(random_votes)
    assert 100 < keep.sum() < 450
    expected = [_ferplus_majority(row.tolist()) for row in random_votes]
    assert keep.tolist() == [e is not None for e in expected]
    assert labels[keep].tolist() == [e for e in expected if e is not None]
    with pytest.raises(ValueError, match=r"votes must be \(N, 10\)"):
        barsoum_majority(random_votes[:, :8])
