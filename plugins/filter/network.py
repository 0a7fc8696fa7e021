"""Filters over plugins/module_utils/network.py (the site-to-site plan)."""

from ansible_collections.vcluster.cluster.plugins.module_utils import network

DOCUMENTATION = r"""
name: network
short_description: Site-to-site network plan from the inventory model
description:
  - C(vc_overlay_routes(model, host)) the routes of a gateway to the other sites' LANs.
  - C(vc_vpn_peers(model, host, port_base)) one tunnel per other site (site, host, wan_ip, port, tls, device).
  - C(vc_wan_peers(model, host)) the emulated WAN links of a gateway (peer, site, latency_ms, jitter_ms,
    bandwidth_mbit, queue).
"""


class FilterModule:
    def filters(self):
        return {"vc_overlay_routes": network.overlay_routes, "vc_vpn_peers": network.vpn_peers,
                "vc_wan_peers": network.wan_peers}
