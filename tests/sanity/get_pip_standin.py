"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip in its sanity venvs.

Its download host is not reachable from the machines this project is tested on (only PyPI and
Debian's mirrors are), so `make sanity` puts this file where ansible-test caches that script
(~/.ansible/test/cache/get_pip_<version>.py). It does what get-pip.py does, from PyPI: install
pip with the interpreter's own ensurepip, then `pip install` the arguments ansible-test passes
(the pinned pip version and the options get-pip.py understands).
"""
import ensurepip
import subprocess
import sys

import os

saved = dict(os.environ)
ensurepip.bootstrap()
# ensurepip sets PIP_CONFIG_FILE=/dev/null and drops PIP_* in this process's environment; the
# install below must see the machine's own pip configuration (index, certificates) again.
os.environ.clear()
os.environ.update(saved)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
