"""LAB SIMULATION: projects on a simulated GitLab Rails node (`gitlab-sim-project`). Lab only.

Real GitLab creates projects through its UI/API and pushes through Workhorse/Shell; this tool
does the Gitaly side of that from the Rails node, with the Rails node's configuration:

    gitlab-sim-project create PATH --storage NAME [--file NAME=TEXT ...]
    gitlab-sim-project show PATH [FILE]
    gitlab-sim-project list

``create`` gives the project the next id, stores it at ``@hashed/<sha256(id)>`` on the storage
(GitLab's hashed storage layout) and commits the files through the storage's Gitaly with Rails'
token; Gitaly runs the pre-receive hook, which calls Rails' internal API with the Gitaly node's
GitLab Shell secret. ``create`` of an existing project changes nothing (prints ``exists``).
``show`` reads a file back through whatever address the project's storage has NOW: a project
whose storage was re-pointed at a server that does not have it gives "404".
Output is one JSON object; exit 1 on failure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import omnibus  # noqa: E402  (a sibling file, not a package)


def load_projects() -> dict:
    try:
        return json.loads(omnibus.PROJECTS.read_text())
    except (OSError, ValueError):
        return {"next_id": 1, "projects": {}}


def save_projects(data: dict) -> None:
    omnibus.PROJECTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = omnibus.PROJECTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, omnibus.PROJECTS)


def call(config: dict, storage: str, route: str, body: dict) -> dict:
    if storage not in config["storages"]:
        return {"code": 3, "message": f"storage {storage!r} is not configured on this GitLab node"}
    entry = config["storages"][storage]
    try:
        return omnibus.gitaly_request(entry["address"], entry.get("token"), "POST", route, body)
    except omnibus.GitalyUnavailable as err:
        return {"code": 14, "message": f"failed to connect to all addresses ({err})"}


def create(args, config) -> int:
    data = load_projects()
    project = data["projects"].get(args.path)
    if project is not None and project.get("pushed"):
        print(json.dumps({"result": "exists", **project}))
        return 0
    if project is None:
        project_id = data["next_id"]
        project = {"id": project_id, "storage": args.storage, "disk_path": omnibus.hashed_path(project_id), "pushed": False}
        data["next_id"] = project_id + 1
        data["projects"][args.path] = project
        save_projects(data)
    files = dict(f.split("=", 1) for f in args.file) or {"README.md": f"# {args.path}\n"}
    answer = call(config, project["storage"], "/repository/commit_files", {
        "storage": project["storage"], "relative_path": project["disk_path"], "gl_repository": f"project-{project['id']}",
        "files": files, "message": "Initial commit"})
    if answer.get("code") != 0:
        print(json.dumps({"result": "failed", **project, "error": "%s:%s" % (answer.get("code"), answer.get("message"))}))
        return 1
    project["pushed"] = True
    project["commit"] = answer["commit"]
    save_projects(data)
    print(json.dumps({"result": "created", **project}))
    return 0


def show(args, config) -> int:
    project = load_projects()["projects"].get(args.path)
    if project is None:
        print(json.dumps({"result": "404", "error": "404 Project Not Found"}))
        return 1
    answer = call(config, project["storage"], "/repository/read_file",
                  {"storage": project["storage"], "relative_path": project["disk_path"], "path": args.file})
    if answer.get("code") != 0:
        print(json.dumps({"result": "404", **project, "error": "%s:%s" % (answer.get("code"), answer.get("message"))}))
        return 1
    print(json.dumps({"result": "ok", **project, "content": answer["content"]}))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gitlab-sim-project", description="LAB SIMULATION of GitLab projects")
    sub = parser.add_subparsers(dest="command", required=True)
    p_create = sub.add_parser("create")
    p_create.add_argument("path")
    p_create.add_argument("--storage", default="default")
    p_create.add_argument("--file", action="append", default=[])
    p_show = sub.add_parser("show")
    p_show.add_argument("path")
    p_show.add_argument("file", nargs="?", default="README.md")
    sub.add_parser("list")
    args = parser.parse_args(argv)
    if args.command == "list":
        print(json.dumps(load_projects()["projects"]))
        return 0
    try:
        config = omnibus.load_rails_config()
    except omnibus.SimError as err:
        print(json.dumps({"result": "failed", "error": str(err)}))
        return 1
    return create(args, config) if args.command == "create" else show(args, config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
