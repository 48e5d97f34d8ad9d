"""Offline stand-ins for hassfest and the HACS action (neither can run without internet).

They check what those tools would reject or what breaks silently at runtime: manifest.json,
hacs.json, translations (every key the code uses, every config field described, de/pt mirroring en),
icons.json, services.yaml against the actions really registered, and quality_scale.yaml against the
Platinum rules. Keys the code uses are found by importing the platform modules (entity descriptions,
including generated ones) and by parsing the HA-layer modules with ``ast`` (literal translation
keys, step ids, errors).
"""

from __future__ import annotations

import ast
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from awesomeversion import AwesomeVersion
from homeassistant.const import Platform
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.setup import async_setup_component

DOMAIN = "ocpp_ems"
REPO = Path(__file__).resolve().parent.parent
INTEGRATION = REPO / "custom_components" / DOMAIN
TRANSLATIONS = INTEGRATION / "translations"
OTHER_LANGUAGES = ("de", "pt")
PLATFORMS = {platform.value for platform in Platform}

# script/hassfest/quality_scale.py (HA 2026.10), which is not shipped in the homeassistant wheel.
# A Platinum integration must mark every rule of every tier up to Platinum done or exempt.
QUALITY_SCALE_RULES: dict[str, tuple[str, ...]] = {
    "bronze": (
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ),
    "silver": (
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ),
    "gold": (
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ),
    "platinum": ("async-dependency", "inject-websession", "strict-typing"),
}
TIERS = ("bronze", "silver", "gold", "platinum")

# script/hassfest/manifest.py
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
}
# HACS: https://hacs.xyz/docs/publish/start#hacsjson
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
    "render_readme",
}


# ----------------------------------------------------------------------------------------- helpers
def _load_json(path: Path) -> Any:
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"
    return json.loads(path.read_text(encoding="utf-8"))


def _load_yaml(path: Path) -> Any:
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _en() -> dict[str, Any]:
    return _load_json(TRANSLATIONS / "en.json")


def _ha_modules() -> list[Path]:
    """The HA-layer modules (core/ is HA-free and has no translation keys)."""
    return sorted(p for p in INTEGRATION.glob("*.py"))


def _platform_of(path: Path) -> str | None:
    """The platform a module's entities belong to: ``sensor.py`` and ``server_sensor.py`` (the
    server device's sensors, set up by the sensor platform) are both ``sensor``."""
    if path.stem in PLATFORMS:
        return path.stem
    platform = path.stem.rsplit("_", 1)[-1]
    return platform if platform in PLATFORMS else None


def _platform_modules() -> list[Path]:
    return [p for p in _ha_modules() if _platform_of(p) is not None]


def _leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, tree


def _placeholders(text: str) -> set[str]:
    # HA translations use {name} placeholders and [%key:...%] references.
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return set()


def _calls(path: Path) -> Iterator[ast.Call]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            yield node


def _func_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _literal_kw(call: ast.Call, name: str) -> str | None:
    for keyword in call.keywords:
        if (
            keyword.arg == name
            and isinstance(keyword.value, ast.Constant)
            and isinstance(keyword.value.value, str)
        ):
            return keyword.value.value
    return None


def _entity_descriptions() -> dict[str, list[EntityDescription]]:
    """Import each platform module and collect its entity descriptions (tuples, lists, dicts)."""
    import importlib

    found: dict[str, list[EntityDescription]] = {}
    for path in _platform_modules():
        module = importlib.import_module(f"custom_components.{DOMAIN}.{path.stem}")
        descriptions: list[EntityDescription] = []
        for value in vars(module).values():
            items: list[Any]
            if isinstance(value, EntityDescription):
                items = [value]
            elif isinstance(value, (tuple, list)):
                items = list(value)
            elif isinstance(value, dict):
                items = list(value.values())
            else:
                continue
            descriptions.extend(item for item in items if isinstance(item, EntityDescription))
        found.setdefault(str(_platform_of(path)), []).extend(descriptions)
    return found


def _entity_translation_keys() -> dict[str, set[str]]:
    """platform -> translation keys, from the imported descriptions and literal uses in code."""
    keys: dict[str, set[str]] = {
        platform: {d.translation_key for d in descriptions if d.translation_key}
        for platform, descriptions in _entity_descriptions().items()
    }
    for path in _platform_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (key := _literal_kw(node, "translation_key")):
                keys[str(_platform_of(path))].add(key)
            elif (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(
                    isinstance(t, (ast.Name, ast.Attribute))
                    and (t.id if isinstance(t, ast.Name) else t.attr) == "_attr_translation_key"
                    for t in targets
                ):
                    keys[str(_platform_of(path))].add(node.value.value)
    return keys


# ---------------------------------------------------------------------------------------- manifest
def test_manifest_keys_order_and_values() -> None:
    raw = (INTEGRATION / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(raw)
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"], "hassfest: domain, then name, first"
    assert keys[2:] == sorted(keys[2:]), "hassfest: keys after domain/name sorted alphabetically"
    assert manifest["domain"] == DOMAIN == INTEGRATION.name
    assert manifest["name"] == "OCPP EMS"
    for key in (
        "codeowners",
        "config_flow",
        "dependencies",
        "documentation",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "requirements",
        "version",
    ):
        assert key in manifest, f"manifest.json lacks {key}"
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["integration_type"] in INTEGRATION_TYPES
    assert manifest["documentation"].startswith("https://")
    assert manifest["issue_tracker"].startswith("https://")
    # Custom integrations must carry a version AwesomeVersion understands (hassfest/loader).
    version = AwesomeVersion(manifest["version"])
    assert version.valid
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", manifest["version"])
    for requirement in manifest["requirements"]:
        assert re.fullmatch(r"[A-Za-z0-9._\-\[\]]+==[0-9][\w.+\-]*", requirement), (
            f"requirement not pinned with ==: {requirement}"
        )
    assert isinstance(manifest["codeowners"], list)
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    if "quality_scale" in manifest:
        assert manifest["quality_scale"] in (*TIERS, "internal", "legacy")


def test_manifest_requirements_match_test_requirements() -> None:
    """What HA would install for users is what the tests ran against."""
    manifest = _load_json(INTEGRATION / "manifest.json")
    pinned = {}
    for raw_line in (REPO / "requirements_test.txt").read_text(encoding="utf-8").splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pinned[name.lower()] = version
    for requirement in manifest["requirements"]:
        name, version = requirement.split("==", 1)
        assert pinned.get(name.lower()) == version, f"{requirement} not pinned the same in tests"


# -------------------------------------------------------------------------------------------- HACS
def test_hacs_json() -> None:
    hacs = _load_json(REPO / "hacs.json")
    assert set(hacs) <= HACS_KEYS, f"unknown hacs.json keys: {set(hacs) - HACS_KEYS}"
    assert hacs["name"]
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.valid
    assert minimum <= AwesomeVersion(ha_version), "hacs.json minimum is newer than the tested HA"
    assert minimum >= AwesomeVersion("2024.1.0")
    if hacs.get("render_readme"):
        assert (REPO / "README.md").is_file()


def test_hacs_repository_layout() -> None:
    """The HACS action wants exactly one integration under custom_components/ (unless in root)."""
    integrations = [p for p in (REPO / "custom_components").iterdir() if p.is_dir()]
    integrations = [p for p in integrations if not p.name.startswith(("_", "."))]
    assert [p.name for p in integrations] == [DOMAIN]
    assert (INTEGRATION / "__init__.py").is_file()
    assert (INTEGRATION / "brand" / "icon.png").is_file(), "brand/icon.png missing"


# ------------------------------------------------------------------------------------ translations
def test_translation_files_are_valid_json() -> None:
    for language in ("en", *OTHER_LANGUAGES):
        data = _load_json(TRANSLATIONS / f"{language}.json")
        for path, value in _leaves(data):
            assert isinstance(value, str), f"{language}.json {path} is not a string"
            assert value.strip(), f"{language}.json {path} is empty"


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_translations_mirror_english(language: str) -> None:
    en = dict(_leaves(_en()))
    other = dict(_leaves(_load_json(TRANSLATIONS / f"{language}.json")))
    missing = sorted(set(en) - set(other))
    extra = sorted(set(other) - set(en))
    assert not missing, f"{language}.json lacks {missing}"
    assert not extra, f"{language}.json has keys en.json lacks: {extra}"
    for key, text in en.items():
        assert _placeholders(other[key]) == _placeholders(text), (
            f"{language}.json {key}: placeholders differ from en.json"
        )


def test_entity_translation_keys_exist() -> None:
    entity = _en().get("entity", {})
    missing = [
        f"entity.{platform}.{key}"
        for platform, keys in _entity_translation_keys().items()
        for key in sorted(keys)
        if key not in entity.get(platform, {})
    ]
    assert not missing, f"en.json lacks {missing}"


def test_entity_translations_have_names_and_states() -> None:
    entity = _en().get("entity", {})
    for platform, descriptions in _entity_descriptions().items():
        for description in descriptions:
            key = description.translation_key
            if not key:
                continue
            entry = entity.get(platform, {}).get(key, {})
            options = getattr(description, "options", None)
            if options:
                states = entry.get("state", {})
                missing = [str(o) for o in options if str(o) not in states]
                assert not missing, f"entity.{platform}.{key}.state lacks {missing}"
    for platform, keys in entity.items():
        assert platform in PLATFORMS, f"entity.{platform} is not a platform"
        for key, entry in keys.items():
            assert "name" in entry or "state" in entry or "state_attributes" in entry, (
                f"entity.{platform}.{key} has neither name nor state"
            )


def _flow_sections(en: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "config", en.get("config", {})
    yield "options", en.get("options", {})
    for subentry, section in en.get("config_subentries", {}).items():
        yield f"config_subentries.{subentry}", section


def test_every_config_field_has_a_description() -> None:
    for name, section in _flow_sections(_en()):
        for step_id, step in section.get("step", {}).items():
            # A step's own fields, and those of its sections (data_entry_flow.section).
            parts = [(f"{name}.step.{step_id}", step)] + [
                (f"{name}.step.{step_id}.sections.{key}", part)
                for key, part in step.get("sections", {}).items()
            ]
            for where, part in parts[1:]:
                assert "name" in part, f"{where} has no name"
            for where, part in parts:
                data = part.get("data", {})
                described = part.get("data_description", {})
                missing = sorted(set(data) - set(described))
                assert not missing, f"{where}: data_description lacks {missing}"
                stray = sorted(set(described) - set(data))
                assert not stray, f"{where}: data_description for unknown {stray}"


def _flow_uses(path: Path) -> dict[str, set[str]]:
    """step ids, errors and abort reasons used literally in a module, per flow kind."""
    uses: dict[str, set[str]] = {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        bases = " ".join(ast.unparse(b) for b in cls.bases)
        if "Subentry" in bases:
            kind = "config_subentries"
        elif "OptionsFlow" in bases:
            kind = "options"
        elif "ConfigFlow" in bases:
            kind = "config"
        else:
            continue
        for node in ast.walk(cls):
            if isinstance(node, ast.Call):
                if step := _literal_kw(node, "step_id"):
                    uses.setdefault(f"{kind}:step", set()).add(step)
                if _func_name(node) == "async_abort" and (reason := _literal_kw(node, "reason")):
                    uses.setdefault(f"{kind}:abort", set()).add(reason)
            # errors["base"] = "cannot_bind" / errors[CONF_PORT] = "port_in_use"
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                and any(
                    isinstance(t, ast.Subscript)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "errors"
                    for t in node.targets
                )
            ):
                uses.setdefault(f"{kind}:error", set()).add(node.value.value)
            # errors={"base": "cannot_bind"} passed inline to async_show_form
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "errors" and isinstance(keyword.value, ast.Dict):
                        uses.setdefault(f"{kind}:error", set()).update(
                            v.value
                            for v in keyword.value.values
                            if isinstance(v, ast.Constant) and isinstance(v.value, str)
                        )
    return uses


def test_flow_steps_errors_and_aborts_are_translated() -> None:
    en = _en()
    # Aborts HA itself raises use common strings; only our own reasons need a text.
    common_aborts = {"already_configured", "reconfigure_successful", "reauth_successful"}
    missing: list[str] = []
    for path in _ha_modules():
        for use, names in _flow_uses(path).items():
            kind, what = use.split(":")
            sections = (
                list(en.get("config_subentries", {}).values())
                if kind == "config_subentries"
                else [en.get(kind, {})]
            )
            for name in sorted(names):
                if what == "abort" and name in common_aborts:
                    continue
                if not any(name in section.get(what, {}) for section in sections):
                    missing.append(f"{kind}.{what}.{name} ({path.name})")
    assert not missing, f"en.json lacks {missing}"


def test_exception_and_issue_translation_keys_exist() -> None:
    en = _en()
    exceptions = en.get("exceptions", {})
    issues = en.get("issues", {})
    missing: list[str] = []
    for path in _ha_modules():
        for call in _calls(path):
            key = _literal_kw(call, "translation_key")
            if key is None:
                continue
            name = _func_name(call)
            if name in ("async_create_issue", "create_issue"):
                if key not in issues:
                    missing.append(f"issues.{key} ({path.name})")
            elif name.endswith(("Error", "NotReady", "Failed", "Exception")) and (
                key not in exceptions
            ):
                missing.append(f"exceptions.{key} ({path.name})")
    assert not missing, f"en.json lacks {missing}"
    for key, entry in exceptions.items():
        assert "message" in entry, f"exceptions.{key} has no message"
    for key, entry in issues.items():
        assert "title" in entry, f"issues.{key} has no title"
        assert "description" in entry or "fix_flow" in entry, f"issues.{key} has no description"


# ---------------------------------------------------------------------------------------- services
def _services_yaml() -> dict[str, Any]:
    services = _load_yaml(INTEGRATION / "services.yaml")
    assert isinstance(services, dict), "services.yaml is not a mapping"
    # Keys starting with "." only hold YAML anchors (hassfest removes them too).
    services = {name: spec for name, spec in services.items() if not name.startswith(".")}
    assert services, "services.yaml is empty"
    return services


def _service_fields(spec: dict[str, Any] | None) -> dict[str, Any]:
    """Fields of a service, flattening collapsible sections."""
    fields: dict[str, Any] = {}
    for name, field in ((spec or {}).get("fields") or {}).items():
        if isinstance(field, dict) and "fields" in field:  # a section
            fields.update(field["fields"])
        else:
            fields[name] = field
    return fields


def test_services_yaml_fields_have_selectors() -> None:
    for service, spec in _services_yaml().items():
        for name, field in _service_fields(spec).items():
            assert isinstance(field, dict), f"{service}.{name} is not a mapping"
            assert "selector" in field, f"{service}.{name} has no selector"
        target = (spec or {}).get("target")
        if target is not None:
            assert isinstance(target, dict)


def test_services_are_translated() -> None:
    translated = _en().get("services", {})
    missing: list[str] = []
    for service, spec in _services_yaml().items():
        entry = translated.get(service)
        if entry is None:
            missing.append(f"services.{service}")
            continue
        for key in ("name", "description"):
            if key not in entry:
                missing.append(f"services.{service}.{key}")
        fields = entry.get("fields", {})
        for name in _service_fields(spec):
            for key in ("name", "description"):
                if key not in fields.get(name, {}):
                    missing.append(f"services.{service}.fields.{name}.{key}")
        for name, section in ((spec or {}).get("fields") or {}).items():
            is_section = isinstance(section, dict) and "fields" in section
            if is_section and "name" not in entry.get("sections", {}).get(name, {}):
                missing.append(f"services.{service}.sections.{name}.name")
    assert not missing, f"en.json lacks {missing}"
    stray = sorted(set(translated) - set(_services_yaml()))
    assert not stray, f"en.json translates services that services.yaml lacks: {stray}"


async def test_services_yaml_matches_registered_actions(hass: HomeAssistant) -> None:
    """Actions are registered once in async_setup; services.yaml must describe exactly those."""
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    registered = set(hass.services.async_services_for_domain(DOMAIN))
    described = set(_services_yaml())
    assert registered, "async_setup registered no actions"
    assert registered == described, (
        f"registered but undescribed: {sorted(registered - described)}; "
        f"described but not registered: {sorted(described - registered)}"
    )


# ------------------------------------------------------------------------------------------- icons
def test_icons_json() -> None:
    icons = _load_json(INTEGRATION / "icons.json")
    assert set(icons) <= {"entity", "services"}, f"unknown icons.json sections: {set(icons)}"
    for path, value in _leaves(icons):
        assert re.fullmatch(r"mdi:[a-z0-9-]+", value), f"icons.json {path}: {value!r}"

    # Every action has an icon, and only actions that exist.
    services = icons.get("services", {})
    assert set(services) == set(_services_yaml()), (
        f"icons.json services differ: missing {sorted(set(_services_yaml()) - set(services))}, "
        f"extra {sorted(set(services) - set(_services_yaml()))}"
    )
    for service, entry in services.items():
        assert "service" in entry, f"icons.json services.{service} has no 'service' icon"

    # Entity icons refer to translation keys (and states) that exist; each declares a default.
    entity_translations = _en().get("entity", {})
    for platform, keys in icons.get("entity", {}).items():
        for key, entry in keys.items():
            assert key in entity_translations.get(platform, {}), (
                f"icons.json entity.{platform}.{key} has no translation key"
            )
            assert "default" in entry, f"icons.json entity.{platform}.{key} has no default"
            states = entity_translations[platform][key].get("state", {})
            for state in entry.get("state", {}):
                # binary sensors/switches use on/off without translated states
                assert state in states or state in ("on", "off"), (
                    f"icons.json entity.{platform}.{key}.state.{state} is not a state"
                )


def test_entities_without_device_class_have_icons() -> None:
    """icon-translations: an entity with a translation key and no device class needs an icon."""
    icons = _load_json(INTEGRATION / "icons.json").get("entity", {})
    missing = [
        f"entity.{platform}.{d.translation_key}"
        for platform, descriptions in _entity_descriptions().items()
        for d in descriptions
        if d.translation_key
        and getattr(d, "device_class", None) is None
        and d.icon is None
        and platform not in ("event",)  # event entities take their icon from the device class
        and d.translation_key not in icons.get(platform, {})
    ]
    assert not missing, f"icons.json lacks {sorted(set(missing))}"


# ----------------------------------------------------------------------------------------- quality
def test_quality_scale_yaml() -> None:
    manifest = _load_json(INTEGRATION / "manifest.json")
    data = _load_yaml(INTEGRATION / "quality_scale.yaml")
    assert set(data) == {"rules"}, "quality_scale.yaml has one top-level key: rules"
    rules: dict[str, Any] = data["rules"]
    known = {rule for tier in TIERS for rule in QUALITY_SCALE_RULES[tier]}
    assert not set(rules) - known, f"unknown rules: {sorted(set(rules) - known)}"
    assert not known - set(rules), f"rules not listed: {sorted(known - set(rules))}"

    def status_of(rule: str) -> str:
        value = rules[rule]
        if isinstance(value, str):
            assert value in ("done", "todo"), f"{rule}: {value!r} (exempt needs a comment)"
            return value
        assert isinstance(value, dict), f"{rule}: {value!r}"
        assert set(value) <= {"status", "comment"}, f"{rule}: unknown keys {set(value)}"
        assert value.get("status") in ("done", "todo", "exempt"), f"{rule}: bad status"
        if value["status"] == "exempt":
            assert str(value.get("comment", "")).strip(), f"{rule}: exempt without a comment"
        return str(value["status"])

    statuses = {rule: status_of(rule) for rule in rules}
    claimed = manifest.get("quality_scale")
    if claimed in TIERS:
        tiers = TIERS[: TIERS.index(claimed) + 1]
        required = [rule for tier in tiers for rule in QUALITY_SCALE_RULES[tier]]
        todo = [rule for rule in required if statuses[rule] == "todo"]
        assert not todo, f"manifest claims {claimed} but these rules are todo: {todo}"


def test_quality_scale_rule_list_matches_hassfest() -> None:
    """If hassfest's own module is importable (a core checkout), our embedded list must match it."""
    try:
        from script.hassfest.quality_scale import ALL_RULES  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip(
            "script.hassfest is not shipped in the homeassistant wheel; using the embedded list"
        )
    embedded = {rule for tier in TIERS for rule in QUALITY_SCALE_RULES[tier]}
    assert {rule.name for rule in ALL_RULES} == embedded
