"""Image sizes: every pacemaker_docker variant in the local engine, with its largest packages.

For each tag of VARIANTS that exists: its size as `docker image ls` shows it, the Debian release,
the number of packages, and its largest packages by installed size (dpkg-query in a throwaway
container, no network); for a variant built on top of another (the cloud layer), the layer's
own size and the packages it adds. Targets (issue 28): full ≤ 300 MB, remote ≤ 150 MB on the
default base (Debian 13). Seconds per image: cheap enough for `make bench-quick`, which reports
the images that exist; `make bench` builds them all first (`make image-variants`).

    python -m bench.images [--top N] [--no-docs] [--require TAG ...]

Results: bench/results/images.json and its own section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.run import replace_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "images.json"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- images -->", "<!-- /images -->"
TOP = 12


@dataclass(frozen=True)
class Variant:
    tag: str
    what: str
    make: str
    on_top_of: str | None = None  # the plain image this one adds a layer to
    target_mb: float | None = None


VARIANTS = (
    Variant("pacemaker_docker:latest", "full node", "make image", target_mb=300),
    Variant(
        "pacemaker_docker:cloud",
        "full node + cloud",
        "make image CLOUD=1",
        "pacemaker_docker:latest",
    ),
    Variant("pacemaker_docker:remote", "remote node", "make image-remote", target_mb=150),
    Variant(
        "pacemaker_docker:remote-cloud",
        "remote node + cloud",
        "make image-remote CLOUD=1",
        "pacemaker_docker:remote",
    ),
    Variant("pacemaker_docker:arbitrator", "booth arbitrator", "make image-arbitrator"),
    Variant("pacemaker_docker:bookworm", "full node", "make image BASE_IMAGE=debian:bookworm-slim"),
    Variant(
        "pacemaker_docker:bookworm-cloud",
        "full node + cloud",
        "make image BASE_IMAGE=debian:bookworm-slim CLOUD=1",
        "pacemaker_docker:bookworm",
    ),
)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def engine_answers() -> bool:
    return shutil.which("docker") is not None and docker("info", timeout=30).returncode == 0


def image_id_and_size(tag: str) -> tuple[str, int] | None:
    out = docker("image", "inspect", "-f", "{{.Id}} {{.Size}}", tag)
    if out.returncode != 0:
        return None
    image_id, size = out.stdout.split()
    return image_id, int(size)


# Bytes on disk per package: the regular files its dpkg file list names (dpkg's Installed-Size
# is what the package declares, before the image's dpkg path filters drop what it never needs).
ON_DISK = """
import glob, os, stat
seen = set()  # a hard-linked file (perl, perl5.40.1) counts once
for path in sorted(glob.glob("/var/lib/dpkg/info/*.list")):
    total = 0
    for name in open(path, encoding="utf-8", errors="replace").read().splitlines():
        try:
            st = os.lstat(name)
        except OSError:  # not unpacked (a dpkg path filter)
            continue
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    print(os.path.basename(path)[:-5].split(":")[0], total, sep="\\t")
# what no package lists: our own files and the docker CLI, and compiled Python
extra = {"(/usr/local: docker CLI)": ["/usr/local"], "(__pycache__)": []}
for top, dirs, files in os.walk("/usr"):
    if os.path.basename(top) == "__pycache__":
        extra["(__pycache__)"] += [os.path.join(top, f) for f in files]
for label, roots in extra.items():
    total = 0
    for root in roots:
        walk = os.walk(root) if os.path.isdir(root) else [("", [], [root])]
        for top, dirs, files in walk:
            for f in files:
                st = os.lstat(os.path.join(top, f))
                if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    print(label, total, sep="\\t")
"""


def packages(tag: str) -> tuple[str, dict[str, int]]:
    """The image's Debian version and {installed package: bytes on disk}, plus what no package
    lists, in parentheses: /usr/local (the docker CLI) and compiled Python (__pycache__)."""
    script = (
        "cat /etc/debian_version; "
        "dpkg-query -W -f '${db:Status-Status}\\t${Package}\\n'; echo ---; "
        'python3 -c "$ON_DISK"'
    )
    out = docker(
        "run", "--rm", "--network", "none", "-e", f"ON_DISK={ON_DISK}", "--entrypoint", "sh", tag,
        "-c", script, timeout=120,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"dpkg-query in {tag} exited {out.returncode}: {out.stderr.strip()}")
    head, _, disk = out.stdout.partition("\n---\n")
    first, *lines = head.splitlines()
    installed = {
        name for status, name in (line.split("\t") for line in lines) if status == "installed"
    }
    sizes = {name: 0 for name in installed}
    for line in disk.splitlines():
        name, size = line.split("\t")
        if name in sizes or name.startswith("("):
            sizes[name] = sizes.get(name, 0) + int(size)
    return first.strip(), sizes


def measure(variants=VARIANTS, top: int = TOP) -> dict:
    rows = []
    found: dict[str, dict] = {}
    for v in variants:
        got = image_id_and_size(v.tag)
        if got is None:
            continue
        image_id, size = got
        debian, sizes = packages(v.tag)
        row = {
            "tag": v.tag,
            "what": v.what,
            "make": v.make,
            "id": image_id.split(":")[-1][:12],
            "size_mb": size / 1e6,
            "debian": debian,
            "packages": len([p for p in sizes if not p.startswith("(")]),
            "on_disk_mb": sum(sizes.values()) / 1e6,
            "largest": sorted(sizes.items(), key=lambda kv: -kv[1])[:top],
            "target_mb": v.target_mb,
        }
        base = found.get(v.on_top_of or "")
        if base is not None:
            before = base["_sizes"]
            added = {p: s for p, s in sizes.items() if p not in before}
            added_count = len(added)
            added.update(  # what grew outside packages: compiled Python, mostly
                (p, s - before[p]) for p, s in sizes.items() if p.startswith("(") and s > before[p]
            )
            row["on_top_of"] = v.on_top_of
            row["layer_mb"] = (size - base["_bytes"]) / 1e6
            row["added"] = sorted(added.items(), key=lambda kv: -kv[1])[:top]
            row["added_count"] = added_count
        found[v.tag] = {**row, "_sizes": sizes, "_bytes": size}
        rows.append(row)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "images": rows}


def _pkgs(items, n: int = 8) -> str:
    return ", ".join(f"{name} {size / 1e6:.1f}" for name, size in items[:n])


def table(result: dict) -> str:
    if not result["images"]:
        return "(no pacemaker_docker image in this engine: `make image-variants` builds them)"
    rows = [
        "| image | Debian | what | size | target | packages | largest packages (MB on disk) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["images"]:
        target = f"≤ {r['target_mb']:.0f} MB" if r.get("target_mb") else "—"
        if "on_top_of" in r:
            largest = (
                f"one layer on `{r['on_top_of']}` (+{r['layer_mb']:.0f} MB, {r['added_count']} "
                f"package{'' if r['added_count'] == 1 else 's'}): {_pkgs(r['added'])}"
            )
        else:
            largest = _pkgs(r["largest"])
        rows.append(
            f"| `{r['tag']}` | {r['debian']} | {r['what']} (`{r['make']}`) | "
            f"{r['size_mb']:.0f} MB | {target} | {r['packages']} | {largest} |"
        )
    return "\n".join(rows)


def section(result: dict) -> str:
    return (
        f"{BEGIN}\n### Image sizes: {result['date']}\n\n"
        "`docker image inspect` sizes (what `docker image ls` shows) and, per package, the\n"
        "bytes its files take in the image (dpkg's file lists; not the declared Installed-Size,\n"
        "which counts what the image's dpkg path filters never unpack); in parentheses what no\n"
        "package lists. `python -m bench.images`, part of `make bench` and `make bench-quick`.\n\n"
        f"{table(result)}\n{END}\n"
    )


def write_section(result: dict) -> None:
    replace_section(BEGIN, END, section(result), DOCS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--top", type=int, default=TOP, help="packages listed per image")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument(
        "--require", action="append", default=[], metavar="TAG", help="fail if TAG is missing"
    )
    args = p.parse_args(argv)
    if not engine_answers():
        print("bench: images: no Docker engine answers: no image sizes", file=sys.stderr)
        return 1 if args.require else 0
    try:
        result = measure(top=args.top)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"bench: images: FAILED, no figures reported: {exc}", file=sys.stderr)
        return 1
    missing = sorted(set(args.require) - {r["tag"] for r in result["images"]})
    if missing:
        print(f"bench: images: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    print(table(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_docs:
        write_section(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
