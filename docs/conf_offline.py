# Appended to the conf.py that `antsibull-docs sphinx-init` writes (`make docs`): the site is built
# without network access (PyPI excepted), so Sphinx fetches no intersphinx inventory. References
# the collection's pages make into Ansible's own documentation - other collections' plugins
# (M(amazon.aws.route53), M(ansible.builtin.uri)) and Ansible's reference pages - become links to
# docs.ansible.com instead; any other unresolved reference still fails the build (-W).
import re as _re

from docutils import nodes as _nodes

intersphinx_mapping = {}

_ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
_ANSIBLE_PAGES = {
    "common_return_values": "reference_appendices/common_return_values.html",
    "ansible_configuration_settings": "reference_appendices/config.html",
}
_PLUGIN_LABEL = _re.compile(r"ansible_collections\.(\w+)\.(\w+)\.(\w+)_([a-z]+)$")


def _ansible_docs_url(target):
    if target in _ANSIBLE_PAGES:
        return _ANSIBLE_DOCS + _ANSIBLE_PAGES[target]
    match = _PLUGIN_LABEL.match(target)
    if match and match.group(1, 2) != ("hapair", "ha"):
        namespace, name, plugin, kind = match.groups()
        return f"{_ANSIBLE_DOCS}collections/{namespace}/{name}/{plugin}_{kind}.html"
    return None


def _link_to_ansible_docs(app, env, node, contnode):
    url = _ansible_docs_url(node.get("reftarget", ""))
    if url is None:
        return None
    reference = _nodes.reference("", "", internal=False, refuri=url)
    reference += contnode
    return reference


def setup(app):
    app.connect("missing-reference", _link_to_ansible_docs)
