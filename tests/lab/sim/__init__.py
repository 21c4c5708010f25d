"""LAB SIMULATIONS of appliances (GitHub Enterprise `ghe-*`, GitLab Omnibus `gitlab-ctl`, …).

Test infrastructure only: these stand in for real appliances in the namespace lab, follow the
documented behaviour and output formats, and are never imported by product code.
"""
