"""bench/images.py without an engine: parsing what the image reports, the cloud layer's
packages against its plain image, the table, and its section of docs/benchmarks.md."""

from __future__ import annotations

import subprocess

import pytest

from bench import images

PLAIN = (
    "13.8\n"
    "installed\tlibc6\ninstalled\tcluster-glue-stub\nnot-installed\tperl\n---\n"
    "libc6\t12800000\ncluster-glue-stub\t0\nperl\t99\n"
    "(/usr/local: docker CLI)\t30700000\n(__pycache__)\t20000000\n"
)
CLOUD = (
    "13.8\n"
    "installed\tlibc6\ninstalled\tcluster-glue-stub\ninstalled\tpython3-botocore\n---\n"
    "libc6\t12800000\ncluster-glue-stub\t0\npython3-botocore\t12000000\n"
    "(/usr/local: docker CLI)\t30700000\n(__pycache__)\t24300000\n"
)


@pytest.fixture
def engine(monkeypatch):
    """A fake `docker`: two images, their inspect answers and their package reports."""
    known = {
        "pacemaker_docker:latest": ("sha256:" + "a" * 64, 286_000_000, PLAIN),
        "pacemaker_docker:cloud": ("sha256:" + "b" * 64, 308_000_000, CLOUD),
    }

    def docker(*args, timeout=120):
        if args[:2] == ("image", "inspect"):
            tag = args[-1]
            if tag not in known:
                return subprocess.CompletedProcess(args, 1, "", "No such image")
            image_id, size, _ = known[tag]
            return subprocess.CompletedProcess(args, 0, f"{image_id} {size}\n", "")
        if args[0] == "run":
            tag = next(a for a in args if a in known)
            return subprocess.CompletedProcess(args, 0, known[tag][2], "")
        raise AssertionError(args)

    monkeypatch.setattr(images, "docker", docker)


def test_packages_counts_installed_packages_and_what_no_package_lists(engine):
    debian, sizes = images.packages("pacemaker_docker:latest")
    assert debian == "13.8"
    assert sizes == {
        "libc6": 12_800_000,
        "cluster-glue-stub": 0,
        "(/usr/local: docker CLI)": 30_700_000,
        "(__pycache__)": 20_000_000,
    }


def test_measure_reports_present_images_and_the_cloud_layer(engine):
    result = images.measure()
    tags = [r["tag"] for r in result["images"]]
    assert tags == ["pacemaker_docker:latest", "pacemaker_docker:cloud"]
    plain, cloud = result["images"]
    assert plain["packages"] == 2 and plain["target_mb"] == 300
    assert plain["largest"][0] == ("(/usr/local: docker CLI)", 30_700_000)
    assert cloud["on_top_of"] == "pacemaker_docker:latest"
    assert cloud["layer_mb"] == pytest.approx(22)
    assert cloud["added_count"] == 1
    assert cloud["added"] == [("python3-botocore", 12_000_000), ("(__pycache__)", 4_300_000)]
    table = images.table(result)
    assert (
        "| `pacemaker_docker:latest` | 13.8 | full node (`make image`) | 286 MB | ≤ 300 MB |"
        in (table)
    )
    assert "one layer on `pacemaker_docker:latest` (+22 MB, 1 package)" in table


def test_section_is_replaced_in_place_before_the_results(tmp_path, monkeypatch, engine):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nintro\n\n<!-- results -->\n## Latest run\n")
    monkeypatch.setattr(images, "DOCS", docs)
    result = images.measure()
    images.write_section(result)
    once = docs.read_text()
    images.write_section(result)
    assert docs.read_text() == once
    assert once.index(images.BEGIN) < once.index(images.END) < once.index("<!-- results -->")
    assert once.startswith("# Benchmarks\n\nintro\n\n<!-- images -->")


def test_no_image_is_a_table_that_says_how_to_build_them():
    assert "make image-variants" in images.table({"date": "now", "images": []})
