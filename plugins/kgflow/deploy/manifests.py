"""Kubernetes objects checked against the API's own schemas, offline: the OpenAPI schemas of one pinned
Kubernetes release (bundled by kubernetes-validate) for built-in kinds, and the CRDs' openAPIV3Schema for
custom resources (KEDA's ScaledObject, the Prometheus operator's monitors and rules).

Both are strict, as `kubectl apply --validate=strict` is: an unknown field is an error, not a silently
dropped typo. The chart's tests check every rendered object here, and the fake API server of the Kubernetes
deployer's tests checks every write it receives (a real server does the same for the deployer's writes, which
ask for fieldValidation=Strict). Test tooling: it needs kubernetes-validate and the CRD modules of a dev install.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from kgflow.errors import KgflowError

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "deploy" / "helm" / "kgflow"
CRD_MODULES = REPO_ROOT / "deploy" / "tools" / "crds"  # go.mod pins the KEDA and Prometheus-operator releases
# the CRD files of each pinned module, as its repository lays them out
CRD_FILES = {
    "github.com/kedacore/keda/v2": ["config/crd/bases/keda.sh_scaledobjects.yaml"],
    "github.com/prometheus-operator/prometheus-operator": [
        f"example/prometheus-operator-crd/monitoring.coreos.com_{name}.yaml"
        for name in ("servicemonitors", "podmonitors", "prometheusrules")],
}


class ManifestError(KgflowError, ValueError):
    """An object the API server would refuse."""
    status, error_type = 422, "validation"


def validated_kubernetes_version(chart: Path = CHART) -> str:
    """The release the chart is validated against (Chart.yaml's kgflow.io/validated-kubernetes-version)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    return meta["annotations"]["kgflow.io/validated-kubernetes-version"]


def crd_files(modules_dir: Path = CRD_MODULES) -> list[Path]:
    """The CRD files of the pinned modules, from the Go module cache (`go mod download`, offline once the
    install has fetched them: GOPROXY=off)."""
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
    out = subprocess.run(["go", "mod", "download", "-json", *CRD_FILES], cwd=modules_dir, env=env,
                         capture_output=True, text=True, check=False)
    files = []
    for doc in json.loads("[" + out.stdout.replace("}\n{", "},\n{") + "]"):
        if "Error" in doc or "Dir" not in doc:
            raise ManifestError(f"CRD module {doc.get('Path')} is not in the Go module cache "
                                f"({doc.get('Error')}): run scripts/install.sh")
        files += [Path(doc["Dir"]) / rel for rel in CRD_FILES[doc["Path"]]]
    return files


def _strict(schema: dict) -> dict:
    """An openAPIV3Schema as the API server's strict field validation reads it: objects with declared
    properties accept no others, unless the schema preserves unknown fields."""
    schema = copy.deepcopy(schema)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@dataclass
class Validator:
    """Built-in kinds against one Kubernetes release; custom resources against their CRDs."""

    kubernetes_version: str
    crd_schemas: dict[tuple[str, str], dict]

    @classmethod
    def load(cls, kubernetes_version: str | None = None, crds: Iterable[Path] | None = None) -> Validator:
        schemas: dict[tuple[str, str], dict] = {}
        for path in crd_files() if crds is None else crds:
            for crd in yaml.safe_load_all(Path(path).read_text()):
                if not crd:
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = version["schema"]["openAPIV3Schema"]
                    schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
        return cls(kubernetes_version or validated_kubernetes_version(), schemas)

    def errors(self, obj: dict) -> list[str]:
        """What the API server would say about `obj`; [] when it would accept it."""
        import kubernetes_validate

        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        name = f"{key[1]}/{(obj.get('metadata') or {}).get('name', '?')}"
        if key in self.crd_schemas:
            validator = jsonschema.Draft7Validator(self.crd_schemas[key])
            return [f"{name}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                    for e in validator.iter_errors(obj)]
        try:
            kubernetes_validate.validate(obj, self.kubernetes_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return [f"{name}: no schema for {key[0]} {key[1]} in Kubernetes {self.kubernetes_version} "
                    "or the pinned CRDs"]
        except kubernetes_validate.ValidationError as e:
            # a jsonschema error: its path and message name the field
            return [f"{name}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"]
        return []

    def check(self, obj: dict) -> None:
        problems = self.errors(obj)
        if problems:
            raise ManifestError("; ".join(problems))


def render(values_files: Iterable[Path] = (), release: str = "kgflow", namespace: str = "kgflow",
           chart: Path = CHART, helm: str = "helm") -> list[dict]:
    """`helm template` of the chart: every object it renders."""
    args = [helm, "template", release, str(chart), "--namespace", namespace]
    for f in values_files:
        args += ["--values", str(f)]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ManifestError(f"helm template failed: {out.stderr.strip()[-2000:]}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]
