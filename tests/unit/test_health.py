"""health: crm_mon XML in, a verdict and a summary out (pure)."""

from __future__ import annotations

import pytest

from pcmk_launch import health

RUNNING = """<pacemaker-result api-version="2.30" request="crm_mon --output-as=xml">
  <summary>
    <stack type="corosync"/>
    <current_dc present="true" version="2.1.5" name="node2" id="2" with_quorum="{q}"/>
  </summary>
  <nodes>
    <node name="node1" id="1" online="true" standby="false"/>
    <node name="node2" id="2" online="true" standby="false"/>
    <node name="node3" id="3" online="{n3}" standby="false"/>
  </nodes>
  <resources>
    <resource id="vip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true">
      <node name="node2" id="2" cached="true"/>
    </resource>
    <group id="g" number_resources="1">
      <resource id="d" resource_agent="ocf:pacemaker:Dummy" role="Stopped" active="false"/>
    </group>
  </resources>
  <status code="0" message="OK"/>
</pacemaker-result>"""

STARTING = """<pacemaker-result api-version="2.30" request="crm_mon --output-as=xml">
  <summary><current_dc present="false"/></summary><nodes/><resources/>
  <status code="0" message="OK"/>
</pacemaker-result>"""

NOT_CONNECTED = """<pacemaker-result api-version="2.30" request="crm_mon --output-as=xml">
  <status code="102" message="Not connected">
    <errors><error>crm_mon: Connection to cluster failed: Connection refused</error></errors>
  </status>
</pacemaker-result>"""

CIB = """<resources><primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
  <instance_attributes id="vip-ia"><nvpair id="vip-ip" name="ip" value="192.0.2.100"/>
  </instance_attributes></primitive></resources>"""


def test_parse_running_cluster():
    st = health.parse(RUNNING.format(q="true", n3="false"), CIB)
    assert st.dc == "node2" and st.quorate
    assert [(n.name, n.online) for n in st.nodes] == [
        ("node1", True), ("node2", True), ("node3", False)
    ]  # fmt: skip
    assert st.resources[0].nodes == ("node2",) and st.resources[0].ip == "192.0.2.100"
    assert st.resources[1].id == "d" and st.resources[1].nodes == ()


def test_parse_tells_node_types_unclean_nodes_and_active_or_failed_resources():
    xml = RUNNING.format(q="true", n3="false").replace(
        '<node name="node3" id="3" online="false" standby="false"/>',
        '<node name="node3" id="3" online="false" standby="false" unclean="true" type="member"/>'
        '<node name="r1" id="r1" online="true" type="remote"/>',
    )
    xml = xml.replace(
        'role="Stopped" active="false"', 'role="Stopped" active="false" failed="true"'
    )
    st = health.parse(xml)
    assert [(n.name, n.type, n.unclean) for n in st.nodes[2:]] == [
        ("node3", "member", True), ("r1", "remote", False)
    ]  # fmt: skip
    assert [(r.id, r.active, r.failed) for r in st.resources] == [
        ("vip", True, False), ("d", False, True)
    ]  # fmt: skip
    assert st.to_dict()["resources"][1]["failed"] is True  # status --json says so too


@pytest.mark.parametrize(
    ("xml", "name", "reason"),
    [
        (RUNNING.format(q="true", n3="true"), "node1", None),
        (RUNNING.format(q="false", n3="true"), "node1", "no quorum"),
        (RUNNING.format(q="true", n3="false"), "node3", "not online"),
        (RUNNING.format(q="true", n3="true"), "node9", "not in the cluster's node list"),
        (STARTING, "node1", "no DC elected yet"),
    ],
)
def test_judge(xml, name, reason):
    verdict = health.judge(health.parse(xml), name)
    if reason is None:
        assert verdict is None
    else:
        assert reason in verdict and "\n" not in verdict


def test_not_connected_is_a_value_error_with_crm_mons_reason():
    with pytest.raises(ValueError, match="no cluster status"):
        health.parse(NOT_CONNECTED)
    assert "Connection refused" in health.failure_reason(NOT_CONNECTED)
    with pytest.raises(ValueError, match="no valid XML"):
        health.parse("garbage")


def test_summary_names_nodes_resources_and_the_vip():
    text = health.summary(health.parse(RUNNING.format(q="true", n3="false"), CIB), "demo", "node1")
    assert "cluster demo: partition with quorum, DC node2" in text
    assert "1 offline (node3)" in text
    assert "resource vip (ocf:heartbeat:IPaddr2) 192.0.2.100: Started on node2" in text
