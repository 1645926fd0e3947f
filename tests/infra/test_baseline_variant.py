"""`-c variant=baseline`: the same stack with the lab-style functions, as InventoryBaselineStack.

The baseline is the "before" that `make bench` measures against: lambdas/baseline/, a NEW_IMAGE
stream, the topic found by name. Everything else (storage, wiring, outputs) stays the same,
and the default variant is still ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from harness import stack as harness_stack
from infra import nag, variants
from infra.alerts import Alerts, LabStyleAlerts
from infra.bundling import PipBundler, source_hash
from infra.functions import RUNTIME
from infra.ingest import Ingest
from infra.inventory_stack import InventoryStack
from infra.outputs import StackOutputs
from infra.storage import Storage
from inventory import config
from tests.infra.queries import (
    BASELINE_CHECKER,
    BASELINE_LOADER,
    OUR_CHECKER,
    OUR_LOADER,
    event_source,
    function_id,
    function_props,
    granted,
    handlers,
    role_statements,
    stream_view,
    topic_id,
)
from tests.infra.stacks import build, nag_report, run_app

pytestmark = pytest.mark.infra


def concerns(stack: InventoryStack) -> list[tuple[str, type]]:
    """The stack's constructs of the pipeline's concerns: (id, class), in order."""
    kinds = (Storage, Ingest, Alerts)
    return [(c.node.id, type(c)) for c in stack.node.children if isinstance(c, kinds)]


# --- the baseline template ---


def test_baseline_runs_the_lab_style_handlers_in_place_of_ours(baseline: Template) -> None:
    assert {BASELINE_LOADER, BASELINE_CHECKER} <= handlers(baseline)
    assert not {OUR_LOADER, OUR_CHECKER} & handlers(baseline)


def test_baseline_streams_new_images_only_as_the_lab_did(baseline: Template) -> None:
    assert stream_view(baseline) == "NEW_IMAGE"


def test_baseline_deploys_as_its_own_stack() -> None:
    assert variants.stack_name(variants.BASELINE) == "InventoryBaselineStack"
    assert harness_stack.stack_name("baseline") == "InventoryBaselineStack"
    assert harness_stack.stack_name() == harness_stack.STACK_NAME == "InventoryStack"


def test_baseline_has_the_same_outputs_pointing_at_its_own_functions(baseline: Template) -> None:
    # All but the dashboard's: the baseline has no dashboard.
    assert set(baseline.find_outputs("*")) == set(StackOutputs.required_names())
    for output, handler in (
        ("LoadInventoryFunctionName", BASELINE_LOADER),
        ("CheckStockFunctionName", BASELINE_CHECKER),
    ):
        baseline.has_output(output, {"Value": {"Ref": function_id(baseline, handler)}})


def test_baseline_loader_gets_both_table_names(baseline: Template) -> None:
    variables = function_props(baseline, BASELINE_LOADER)["Environment"]["Variables"]
    assert {config.ENV_TABLE_NAME, config.ENV_RECEIPTS_TABLE_NAME} <= set(variables)


def test_baseline_checker_finds_the_topic_by_name_with_list_topics(baseline: Template) -> None:
    topic = topic_id(baseline)
    variables = function_props(baseline, BASELINE_CHECKER)["Environment"]["Variables"]
    assert variables[config.ENV_TOPIC_NAME] == {"Fn::GetAtt": [topic, "TopicName"]}
    assert config.ENV_TOPIC_ARN not in variables
    statements = role_statements(baseline, BASELINE_CHECKER)
    assert [s["Resource"] for s in granted(statements, "sns:ListTopics")] == ["*"]
    assert [s["Resource"] for s in granted(statements, "sns:Publish")] == [{"Ref": topic}]


def test_baseline_checker_does_not_report_partial_batch_failures(baseline: Template) -> None:
    assert "FunctionResponseTypes" not in event_source(baseline, BASELINE_CHECKER)


def test_baseline_checker_gets_every_record_with_no_filter_criteria(baseline: Template) -> None:
    # An empty filter list is refused by CloudFormation; the lab had no filter at all.
    assert "FilterCriteria" not in event_source(baseline, BASELINE_CHECKER)


def test_both_baseline_functions_share_one_asset_of_the_baseline_package(
    baseline: Template,
) -> None:
    keys = {
        function_props(baseline, h)["Code"]["S3Key"] for h in (BASELINE_LOADER, BASELINE_CHECKER)
    }
    assert len(keys) == 1
    assert source_hash("baseline", RUNTIME) != source_hash("load_inventory", RUNTIME)


def test_baseline_bundle_holds_both_handlers_and_the_domain(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    out = tmp_path_factory.mktemp("baseline.asset")
    assert PipBundler("baseline", RUNTIME).try_bundle(str(out)) is True
    for module in ("load_inventory.py", "check_stock.py"):
        assert (out / "baseline" / module).is_file()
    assert (out / "inventory" / "receipts.py").is_file()  # build_receipt, for the receipt
    assert not (out / "load_inventory").exists() and not (out / "check_stock").exists()


# --- the default is unchanged ---


def test_default_variant_is_ours_unchanged(
    template: Template, tmp_path: Path, cdk_context: dict[str, Any]
) -> None:
    assert {OUR_LOADER, OUR_CHECKER} <= handlers(template)
    assert stream_view(template) == "NEW_AND_OLD_IMAGES"
    assert "FunctionResponseTypes" not in event_source(template, OUR_CHECKER)
    assert granted(role_statements(template, OUR_CHECKER), "sns:ListTopics") == []
    explicit = Template.from_stack(build(tmp_path, cdk_context, variants.OURS))
    assert explicit.to_json() == template.to_json()


def test_both_variants_compose_the_same_constructs_but_the_alerts(
    stack: InventoryStack, baseline_stack: InventoryStack
) -> None:
    assert concerns(stack) == [("Storage", Storage), ("Ingest", Ingest), ("Alerts", Alerts)]
    assert concerns(baseline_stack) == [
        ("Storage", Storage),
        ("Ingest", Ingest),
        ("Alerts", LabStyleAlerts),
    ]


def test_our_acknowledgements_are_unchanged() -> None:
    assert nag.acknowledgements() == nag.STACK_ACKNOWLEDGEMENTS
    assert nag.acknowledgements(variants.OURS) == nag.STACK_ACKNOWLEDGEMENTS


# --- unknown variants ---


def test_an_unknown_variant_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(variants.UnknownVariantError, match="use one of ours, baseline"):
        InventoryStack(cdk.App(outdir=str(tmp_path)), "X", variant="labby")
    with pytest.raises(variants.UnknownVariantError, match="'labby'"):
        variants.stack_name("labby")


def test_deploying_an_unknown_variant_fails_before_the_cli_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_cli(*args: str, **kwargs: str) -> str:
        raise AssertionError(f"the CDK CLI ran: {args}")

    monkeypatch.setattr(harness_stack, "_cli", no_cli)
    with pytest.raises(variants.UnknownVariantError):
        harness_stack.deploy_local("labby")


# --- the app, as `cdk synth -c variant=...` runs it ---


def test_the_app_synthesizes_the_baseline_clean_under_cdk_nag(
    tmp_path: Path, infra_dir: Path, cdk_context: dict[str, Any]
) -> None:
    result = run_app(tmp_path, infra_dir, {**cdk_context, variants.CONTEXT_KEY: variants.BASELINE})
    assert result.returncode == 0, f"synth failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "InventoryBaselineStack.template.json").is_file()
    assert not (tmp_path / "InventoryStack.template.json").exists()
    found = nag_report(tmp_path)
    assert found["conclusion"] == "success" and found["violations"] == []
    suppressed = {v["acknowledgedId"]: v for v in found["suppressedViolations"]}
    for rule, finding, reason in nag.BASELINE_ACKNOWLEDGEMENTS:
        # Each matches a real finding, and the report carries the baseline's own reason.
        assert nag.acknowledgement_id(rule, finding) in suppressed
        assert 40 <= len(reason) <= 400 and len(reason.split()) >= 8
    reasons = {nag.acknowledgement_id(r, f): why for r, f, why in nag.acknowledgements("baseline")}
    assert all(reasons[a] == v["reason"] for a, v in suppressed.items() if a in reasons)


def test_the_app_refuses_an_unknown_variant(
    tmp_path: Path, infra_dir: Path, cdk_context: dict[str, Any]
) -> None:
    result = run_app(tmp_path, infra_dir, {**cdk_context, variants.CONTEXT_KEY: "labby"})
    assert result.returncode != 0
    assert "unknown variant 'labby': use one of ours, baseline" in result.stderr
