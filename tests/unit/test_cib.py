"""cib.seed: the first CIB gets PCMK_CLUSTER_PROPERTIES as cib-bootstrap-options nvpairs."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pcmk_launch import cib
from tests.helpers.prereq import require, require_commands
from tests.unit.scenarios import refuse

# `cibadmin --empty` of pacemaker 2.1 (Debian bookworm)
EMPTY_CIB = """\
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" \
admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""
PROPS = [("dc-deadtime", "2s"), ("stonith-enabled", "false"), ("no-quorum-policy", "ignore")]


def property_sets(xml: str) -> list[ET.Element]:
    return ET.fromstring(xml).findall("configuration/crm_config/cluster_property_set")


def test_seed_adds_bootstrap_options_with_nvpairs():
    out = cib.seed(EMPTY_CIB, PROPS)
    (pset,) = property_sets(out)
    assert pset.attrib == {"id": "cib-bootstrap-options"}
    assert [nv.attrib for nv in pset] == [
        {"id": f"cib-bootstrap-options-{name}", "name": name, "value": value}
        for name, value in PROPS
    ]


def test_seed_keeps_the_rest_of_the_cib():
    root = ET.fromstring(cib.seed(EMPTY_CIB, PROPS))
    empty = ET.fromstring(EMPTY_CIB)
    assert root.tag == "cib" and root.attrib == empty.attrib
    assert [c.tag for c in root] == ["configuration", "status"]
    assert [c.tag for c in root.find("configuration")] == [
        "crm_config",
        "nodes",
        "resources",
        "constraints",
    ]
    for section in ("nodes", "resources", "constraints"):
        assert len(root.find(f"configuration/{section}")) == 0


def test_seed_output_is_one_xml_document_ending_in_a_newline():
    out = cib.seed(EMPTY_CIB, PROPS)
    assert out.endswith("\n") and out.count("<cib ") == 1
    ET.fromstring(out)  # well-formed


@pytest.mark.parametrize(
    "env, expected",
    [
        # several nodes keep Pacemaker's fencing default: they need a fence device
        ({"PCMK_NODE_LIST": "192.0.2.11 192.0.2.12"}, [("dc-deadtime", "1s")]),
        # a standalone node cannot be fenced by anyone, so it does not wait for a device
        ({}, [("dc-deadtime", "1s"), ("stonith-enabled", "false")]),
        # given properties replace the defaults, standalone or not
        ({"PCMK_CLUSTER_PROPERTIES": "dc-deadtime=2s"}, [("dc-deadtime", "2s")]),
        # Pacemaker's percentages
        (
            {"PCMK_CLUSTER_PROPERTIES": "dc-deadtime=2s load-threshold=300%"},
            [("dc-deadtime", "2s"), ("load-threshold", "300%")],
        ),
    ],
)
def test_seed_default_properties_from_settings(env, expected):
    from tests.unit.scenarios import load

    props = load(env, "192.0.2.11").settings.cluster_properties
    (pset,) = property_sets(cib.seed(EMPTY_CIB, props))
    assert [(nv.get("name"), nv.get("value")) for nv in pset] == expected


def test_seed_refuses_a_document_without_crm_config():
    with pytest.raises(ValueError, match="crm_config"):
        cib.seed("<cib><configuration/></cib>", PROPS)


def test_seed_escapes_xml_specials_even_if_they_got_through():
    """Validation refuses them (below); if one got through, the XML must still be valid."""
    nasty = [("x", "<&\"'>"), ("y", "]]>")]
    (pset,) = property_sets(cib.seed(EMPTY_CIB, nasty))
    assert [nv.get("value") for nv in pset] == ["<&\"'>", "]]>"]


@pytest.mark.parametrize(
    "word",
    [
        "dc-deadtime=<2s>",
        "dc-deadtime=2s&x",
        'dc-deadtime="2s"',
        "dc-deadtime='2s'",
        "a<b=1",
        "a&b=1",
        'a"b=1',
        "dc-deadtime=2s/",
        "dc-deadtime=é",
    ],
)
def test_xml_special_characters_are_refused_by_validation(word):
    err = refuse({"PCMK_CLUSTER_PROPERTIES": word})
    assert any("PCMK_CLUSTER_PROPERTIES" in p and "Fix:" in p for p in err.problems)
    assert repr(word) in err.message()


def test_seed_of_the_real_cibadmin_output():
    require_commands("cibadmin")
    empty = subprocess.run(
        ["cibadmin", "--empty"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    (pset,) = property_sets(cib.seed(empty, PROPS))
    assert len(pset) == len(PROPS)


def test_seeded_cib_validates_against_pacemakers_schema(tmp_path: Path):
    """Needs xmllint (libxml2-utils) and pacemaker's RelaxNG schemas (host-deps installs both)."""
    schema = Path("/usr/share/pacemaker") / (
        ET.fromstring(EMPTY_CIB).get("validate-with", "") + ".rng"
    )
    require(
        shutil.which("xmllint") is not None and schema.exists(),
        f"xmllint or pacemaker's schema {schema} is not installed",
    )
    seeded = tmp_path / "cib.xml"
    seeded.write_text(cib.seed(EMPTY_CIB, PROPS))
    result = subprocess.run(
        ["xmllint", "--noout", "--relaxng", str(schema), str(seeded)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


SCHEMAS = ["pacemaker-2.10.rng", "pacemaker-3.9.rng", "pacemaker-3.10.rng", "upgrade-3.10-0.xsl"]


@pytest.mark.parametrize(
    "validate_with, verdict",
    [
        ("pacemaker-3.9", None),  # what 2.1 writes: fine
        ("pacemaker-3.10", None),  # numeric, not text order: 3.10 > 3.9
        ("pacemaker-4.0", ("pacemaker-4.0", "pacemaker-3.10")),  # upgraded under 3.0
        ("pacemaker-next", None),  # not a released schema: pacemaker judges it
        ("", None),
    ],
)
def test_too_new_compares_schema_versions(validate_with, verdict):
    text = f'<cib validate-with="{validate_with}"><configuration/></cib>'
    assert cib.too_new(text, SCHEMAS) == verdict


def test_too_new_leaves_damaged_or_unknown_input_to_pacemaker():
    assert cib.too_new("<cib", SCHEMAS) is None
    assert cib.too_new('<cib validate-with="pacemaker-4.0"/>', []) is None
