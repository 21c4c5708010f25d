"""The hapair.ha local lab: hosts from Linux namespaces, moto, IMDS and simulated appliances.

Everything under tests/lab is TEST INFRASTRUCTURE and SIMULATION; product code (plugins/,
roles/, playbooks/) never imports it and never knows it runs in a lab. See README.md.
"""
from .lab import Lab, LabError  # noqa: F401
from .topology import Topology, TopologyError  # noqa: F401
