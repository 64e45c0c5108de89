"""Galaxy's own import check, galaxy-importer (tests/packaging/requirements.txt pins the version Galaxy runs), passes on
the built tarball with no error and no warning.

galaxy-importer runs ansible-doc on every plugin and ansible-lint (the version it pins, production profile) on the
extracted collection, and logs what they report as WARNING or ERROR lines; Galaxy shows those on the upload and
refuses it on an error. It runs here as Galaxy runs it, offline and without containers (no ansible-test), with a
configuration file written for the test (GALAXY_IMPORTER_CONFIG), never one of the machine.
"""

import hashlib
import json
import os
import re
import tarfile

from tests.packaging.support import ansible_env, run

# What galaxy-importer's log formatter prints for a record above INFO: "WARNING: ...", "ERROR: ...".
PROBLEM = re.compile(r"^(WARNING|ERROR|CRITICAL)\b")
CONFIG = """[galaxy-importer]
LOG_LEVEL_MAIN = INFO
RUN_ANSIBLE_DOC = True
RUN_ANSIBLE_LINT = {lint}
OFFLINE_ANSIBLE_LINT = True
RUN_ANSIBLE_TEST = False
RUN_FLAKE8 = False
ANSIBLE_TEST_LOCAL_IMAGE = False
LOCAL_IMAGE_DOCKER = False
INFRA_OSD = False
CHECK_CHANGELOG = True
CHECK_REQUIRED_TAGS = False
REQUIRE_V1_OR_GREATER = False
ANSIBLE_LOCAL_TMP = {local_tmp}
TMP_ROOT_DIR = {tmp_root}
"""


def import_tarball(packaging_venv, tarball, workdir, lint=True):
    """(returncode, output, problems) of galaxy-importer run on `tarball` in `workdir`; `lint`: its ansible-lint run
    (about 40 s)."""
    workdir = str(workdir)
    local_tmp, tmp_root = os.path.join(workdir, "ansible-tmp"), os.path.join(workdir, "importer-tmp")
    os.makedirs(local_tmp)
    os.makedirs(tmp_root)
    config = os.path.join(workdir, "galaxy-importer.cfg")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(CONFIG.format(local_tmp=local_tmp, tmp_root=tmp_root, lint=lint))
    venv_bin = os.path.join(packaging_venv, "bin")
    # Its ansible-doc and ansible-lint are found through PATH (without them it warns and skips them).
    env = ansible_env(os.path.join(workdir, "no-collections"), GALAXY_IMPORTER_CONFIG=config,
                      PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    for name in [name for name in env if name.startswith("GALAXY_IMPORTER_") and name != "GALAXY_IMPORTER_CONFIG"]:
        del env[name]
    for name in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"):
        env.pop(name)  # galaxy-importer sets the collections path of its tools itself.
    imported = run([os.path.join(venv_bin, "python"), "-m", "galaxy_importer.main", str(tarball)], cwd=workdir,
                   env=env, timeout=900)
    output = imported.stdout + imported.stderr
    problems = [line for line in output.splitlines() if PROBLEM.match(line.strip())]
    return imported.returncode, output, problems


def test_galaxy_importer_passes_with_no_error_and_no_warning(packaging_venv, built_tarball, tmp_path):
    returncode, output, problems = import_tarball(packaging_venv, built_tarball, tmp_path)
    assert problems == [], "galaxy-importer reported:\n" + "\n".join(problems)
    assert returncode == 0, output[-6000:]
    assert "Importer processing completed successfully" in output, output[-6000:]
    # It did run its checks (ansible-doc and ansible-lint found, the content loaded).
    assert "Linting collection via ansible-lint" in output and "ansible-lint run complete" in output, output[-6000:]
    assert "Loading role user_access" in output and "Loading module k8s_csr_request" in output, output[-6000:]
    assert os.path.isfile(tmp_path / "importer_result.json")


def _rebuilt(tarball, dest, change):
    """`tarball` extracted, `change(directory)` applied, packed again under the same name in `dest`, with FILES.json
    and the checksum of it in MANIFEST.json made again (what galaxy-importer checks first)."""
    extracted = dest / "extracted"
    with tarfile.open(tarball) as tar:
        tar.extractall(extracted, filter="data")
    change(str(extracted))
    files_json = extracted / "FILES.json"
    files = json.loads(files_json.read_text(encoding="utf-8"))
    kept = []
    for item in files["files"]:
        path = extracted / item["name"]
        if item["ftype"] == "file" and path.is_file():
            item["chksum_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        if path.exists():
            kept.append(item)
    files["files"] = kept
    files_json.write_text(json.dumps(files, indent=4), encoding="utf-8")
    manifest = json.loads((extracted / "MANIFEST.json").read_text(encoding="utf-8"))
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json.read_bytes()).hexdigest()
    (extracted / "MANIFEST.json").write_text(json.dumps(manifest, indent=4), encoding="utf-8")
    rebuilt = dest / os.path.basename(tarball)
    with tarfile.open(rebuilt, "w:gz") as tar:
        for name in sorted(os.listdir(extracted)):
            tar.add(extracted / name, arcname=name)
    return str(rebuilt)


def test_a_problem_galaxy_importer_reports_fails_the_check(packaging_venv, built_tarball, tmp_path):
    """The check above can fail: the same tarball with one filter's documentation removed (as 10 of the 11 filters
    were once) gets galaxy-importer's warning, which import_tarball finds."""
    def drop_a_filter_doc(directory):
        os.remove(os.path.join(directory, "plugins", "filter", "access_outcomes.yml"))

    broken = _rebuilt(built_tarball, tmp_path, drop_a_filter_doc)
    _returncode, output, problems = import_tarball(packaging_venv, broken, tmp_path / "import", lint=False)
    assert any("access_outcomes" in line for line in problems), output[-6000:]
