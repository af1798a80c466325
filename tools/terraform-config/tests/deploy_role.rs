//! The deploy role's policy against the deploy-permissions table (coverage) and against taking
//! over the account (self-escalation), each shown to catch a deliberately broken copy.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod broken_copy;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use broken_copy::{BrokenCopy, assert_caught, terraform_dir};
use hcl::Value;
use hcl::eval::{Context, Evaluate};
use terraform_config::checks::{Tree, Violation};
use terraform_config::deploy_role::{self, DeployPermissions, EscalationTargets};
use terraform_config::iam::IamDefinitions;
use terraform_config::{Module, check_data};

fn iam() -> &'static IamDefinitions {
    static IAM: OnceLock<IamDefinitions> = OnceLock::new();
    IAM.get_or_init(|| {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = check_data::iam_definitions(&check_data::directory(&workspace));
        assert!(path.exists(), "{}", check_data::missing(&path));
        IamDefinitions::load(&path).expect("parliament's IAM definitions load")
    })
}

struct Setup {
    table: DeployPermissions,
    tree: Tree,
    bootstrap: Module,
    context: Context<'static>,
}

fn setup(terraform: &Path) -> Setup {
    let table = DeployPermissions::load(&terraform.join("bootstrap/deploy-permissions.json")).unwrap();
    let tree = Tree::load(terraform).unwrap();
    let bootstrap = Module::load(terraform.join("bootstrap")).unwrap();
    let context = deploy_role::bootstrap_context(&bootstrap, &table).unwrap();
    Setup {
        table,
        tree,
        bootstrap,
        context,
    }
}

fn coverage(terraform: &Path) -> Vec<Violation> {
    let setup = setup(terraform);
    let policy = deploy_role::policy_document(&setup.bootstrap, "deploy", &setup.context).unwrap();
    let types = deploy_role::environment_types(&setup.tree);
    deploy_role::coverage(&setup.table, &policy, iam(), &types)
}

fn targets(setup: &Setup) -> EscalationTargets {
    let (partition, account) = (&setup.table.sample["partition"], &setup.table.sample["account"]);
    let context = &setup.context;
    EscalationTargets {
        deploy_role: deploy_role::named_arn(
            &setup.bootstrap,
            context,
            "aws_iam_role",
            "deploy",
            &format!("arn:{partition}:iam::{account}:role/"),
        )
        .unwrap(),
        boundary: deploy_role::named_arn(
            &setup.bootstrap,
            context,
            "aws_iam_policy",
            "function_boundary",
            &format!("arn:{partition}:iam::{account}:policy/"),
        )
        .unwrap(),
        function_role: setup.table.sample_arn("aws_iam_role").unwrap(),
    }
}

fn escalation(terraform: &Path) -> Vec<Violation> {
    let setup = setup(terraform);
    let policy = deploy_role::policy_document(&setup.bootstrap, "deploy", &setup.context).unwrap();
    deploy_role::self_escalation(&policy, &targets(&setup))
}

fn listed(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_deploy_role_allows_every_call_the_environments_need() {
    let violations = coverage(&terraform_dir());
    assert!(violations.is_empty(), "violations:\n{}", listed(&violations));
}

#[test]
fn the_deploy_role_cannot_escalate() {
    let violations = escalation(&terraform_dir());
    assert!(violations.is_empty(), "violations:\n{}", listed(&violations));
}

#[test]
fn the_first_apply_policy_without_mapping_tags_is_caught() {
    // The policy as it was: the mapping's tags only on function ARNs, Get under the condition.
    let copy = BrokenCopy::new("deploy-esm")
        .edit(
            "bootstrap/main.tf",
            "    actions   = [\"lambda:UpdateEventSourceMapping\", \"lambda:DeleteEventSourceMapping\"]",
            "    actions   = [\"lambda:UpdateEventSourceMapping\", \"lambda:DeleteEventSourceMapping\", \"lambda:GetEventSourceMapping\"]",
        )
        .edit(
            "bootstrap/main.tf",
            "      \"lambda:GetEventSourceMapping\", \"lambda:ListTags\", \"lambda:TagResource\", \"lambda:UntagResource\",",
            "      \"lambda:GetLayerVersion\",",
        );
    let violations = coverage(&copy.dir);
    assert_caught(
        violations.clone(),
        "deploy-role-coverage",
        "lambda:ListTags on arn:aws:lambda:eu-west-1:123456789012:event-source-mapping",
    );
    assert_caught(
        violations,
        "deploy-role-coverage",
        "lambda:GetEventSourceMapping on arn:aws:lambda:eu-west-1:123456789012:event-source-mapping",
    );
}

#[test]
fn a_condition_the_action_does_not_support_is_caught() {
    let copy = BrokenCopy::new("deploy-condition").edit(
        "bootstrap/main.tf",
        "    resources = [\"arn:${local.partition}:lambda:${var.region}:901920570463:layer:aws-otel-collector-*\"]\n  }",
        "    resources = [\"arn:${local.partition}:lambda:${var.region}:901920570463:layer:aws-otel-collector-*\"]\n\n    condition {\n      test     = \"StringNotEquals\"\n      variable = \"lambda:FunctionArn\"\n      values   = [\"none\"]\n    }\n  }",
    );
    assert_caught(
        coverage(&copy.dir),
        "deploy-role-coverage",
        "conditions on lambda:FunctionArn",
    );
}

#[test]
fn a_wrong_resource_for_an_action_is_caught() {
    let copy = BrokenCopy::new("deploy-describe").edit(
        "bootstrap/main.tf",
        "      \"logs:DescribeLogGroups\", \"sns:Unsubscribe\",",
        "      \"sns:Unsubscribe\",",
    );
    assert_caught(
        coverage(&copy.dir),
        "deploy-role-coverage",
        "logs:DescribeLogGroups on *",
    );
}

#[test]
fn a_resource_type_without_a_row_is_caught() {
    let copy = BrokenCopy::new("deploy-row").edit(
        "modules/queue/main.tf",
        "# Only the event queue may redrive into the DLQ.",
        "resource \"aws_sqs_queue_redrive_policy\" \"this\" {\n  queue_url      = aws_sqs_queue.this.id\n  redrive_policy = \"{}\"\n}\n\n# Only the event queue may redrive into the DLQ.",
    );
    assert_caught(
        coverage(&copy.dir),
        "deploy-role-coverage",
        "aws_sqs_queue_redrive_policy",
    );
}

#[test]
fn a_deploy_role_that_can_write_its_own_role_is_caught() {
    // The policy as it was: roles by name prefix, which the deploy role's own name matches.
    let copy = BrokenCopy::new("deploy-self")
        .edit(
            "bootstrap/main.tf",
            "    resources = [\"arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*\"]\n\n    condition {\n      test     = \"StringEquals\"\n      variable = \"iam:PermissionsBoundary\"",
            "    resources = [\"arn:${local.partition}:iam::${local.account}:role/${var.project}-${each.key}-*\"]\n\n    condition {\n      test     = \"StringEquals\"\n      variable = \"iam:PermissionsBoundary\"",
        )
        .edit(
            "bootstrap/main.tf",
            "      \"arn:${local.partition}:iam::${local.account}:role/${var.project}-*-github-deploy\",\n",
            "",
        );
    assert_caught(
        escalation(&copy.dir),
        "deploy-role-self-escalation",
        "on its own role",
    );
}

#[test]
fn a_role_write_without_the_boundary_is_caught() {
    let bounded = "      \"iam:CreateRole\", \"iam:PutRolePolicy\", \"iam:DeleteRolePolicy\", \"iam:PutRolePermissionsBoundary\",\n    ]\n    resources = [\"arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*\"]\n";
    let condition = "\n    condition {\n      test     = \"StringEquals\"\n      variable = \"iam:PermissionsBoundary\"\n      values   = [aws_iam_policy.function_boundary[each.key].arn]\n    }\n";
    let copy = BrokenCopy::new("deploy-boundary").edit(
        "bootstrap/main.tf",
        &format!("{bounded}{condition}"),
        bounded,
    );
    assert_caught(
        escalation(&copy.dir),
        "deploy-role-self-escalation",
        "iam:PutRolePolicy on arn:aws:iam::123456789012:role/webhooks/dev/",
    );
}

#[test]
fn passing_the_deploy_role_to_a_function_is_caught() {
    let copy = BrokenCopy::new("deploy-pass")
        .edit(
            "bootstrap/main.tf",
            "    actions   = [\"iam:PassRole\"]\n    resources = [\"arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*\"]",
            "    actions   = [\"iam:PassRole\"]\n    resources = [\"arn:${local.partition}:iam::${local.account}:role/${var.project}*\"]",
        )
        .edit(
            "bootstrap/main.tf",
            "\"iam:DetachRolePolicy\", \"iam:PassRole\", \"iam:PutRolePermissionsBoundary\"",
            "\"iam:DetachRolePolicy\", \"iam:PutRolePermissionsBoundary\"",
        );
    assert_caught(
        escalation(&copy.dir),
        "deploy-role-self-escalation",
        "iam:PassRole on its own role",
    );
}

/// The pipeline computes the boundary's ARN and the roles' path; bootstrap creates the boundary
/// and grants on the path. Both sides must name the same things.
#[test]
fn the_pipeline_uses_the_boundary_and_path_bootstrap_grants() {
    let setup = setup(&terraform_dir());
    let boundary = targets(&setup).boundary;
    let pipeline = Module::load(terraform_dir().join("modules/pipeline")).unwrap();
    let mut variables = pipeline.variable_defaults().unwrap();
    variables.insert(
        "project".to_owned(),
        Value::from(setup.table.sample["project"].clone()),
    );
    variables.insert("environment".to_owned(), Value::from(setup.table.environment()));
    let mut context = Context::new();
    context.declare_var("var", Value::Object(variables));
    let data: Value = hcl::value!({
        aws_caller_identity = { current = { account_id = (setup.table.sample["account"].clone()) } }
        aws_partition = { current = { partition = (setup.table.sample["partition"].clone()) } }
    });
    context.declare_var("data", data);
    let locals = pipeline.locals_in(&context);
    assert_eq!(locals["permissions_boundary_arn"], Value::from(boundary));

    let role_path = locals["role_path"].as_str().unwrap().to_owned();
    let worker = locals["names"].as_object().unwrap()["worker"]
        .as_str()
        .unwrap()
        .to_owned();
    let function = Module::load(terraform_dir().join("modules/function")).unwrap();
    let role_name = function.resources("aws_iam_role")["this"]
        .body()
        .attributes()
        .find(|a| a.key() == "name")
        .unwrap()
        .expr()
        .evaluate(&{
            let mut context = Context::new();
            context.declare_var("var", hcl::value!({ name = (worker) }));
            context
        })
        .unwrap();
    let role_arn = format!(
        "arn:{}:iam::{}:role{role_path}{}",
        setup.table.sample["partition"],
        setup.table.sample["account"],
        role_name.as_str().unwrap()
    );
    assert_eq!(Some(role_arn), setup.table.sample_arn("aws_iam_role"));
}

fn plan_coverage(terraform: &Path) -> Vec<Violation> {
    let setup = setup(terraform);
    let policy = deploy_role::policy_document(&setup.bootstrap, "plan", &setup.context).unwrap();
    deploy_role::plan_coverage(&setup.table, &policy, iam())
}

#[test]
fn the_plan_role_reads_what_a_refresh_reads_and_writes_nothing() {
    let violations = plan_coverage(&terraform_dir());
    assert!(violations.is_empty(), "violations:\n{}", listed(&violations));
}

#[test]
fn a_plan_role_that_can_write_is_caught() {
    let copy = BrokenCopy::new("plan-write").edit(
        "bootstrap/main.tf",
        "      \"lambda:ListVersionsByFunction\", \"lambda:ListTags\", \"lambda:GetPolicy\", \"lambda:GetFunctionConcurrency\",",
        "      \"lambda:ListVersionsByFunction\", \"lambda:ListTags\", \"lambda:GetPolicy\", \"lambda:GetFunctionConcurrency\", \"lambda:UpdateFunctionCode\",",
    );
    assert_caught(
        plan_coverage(&copy.dir),
        "plan-role-read-only",
        "lambda:UpdateFunctionCode",
    );
    let state = BrokenCopy::new("plan-state").edit(
        "bootstrap/main.tf",
        "    resources = [\"${aws_s3_bucket.state.arn}/${var.project}/${each.key}/*.tflock\"]",
        "    resources = [\"${aws_s3_bucket.state.arn}/${var.project}/${each.key}/*\"]",
    );
    assert_caught(
        plan_coverage(&state.dir),
        "plan-role-read-only",
        "s3:PutObject on arn:aws:s3:::my-org-webhooks-tfstate/webhooks/dev/terraform.tfstate",
    );
}

#[test]
fn a_plan_role_that_cannot_refresh_is_caught() {
    let copy = BrokenCopy::new("plan-read").edit(
        "bootstrap/main.tf",
        "    actions   = [\"lambda:GetEventSourceMapping\", \"lambda:ListTags\"]",
        "    actions   = [\"lambda:GetEventSourceMapping\"]",
    );
    assert_caught(
        plan_coverage(&copy.dir),
        "deploy-role-coverage",
        "lambda:ListTags on arn:aws:lambda:eu-west-1:123456789012:event-source-mapping",
    );
}

fn operator_coverage(terraform: &Path) -> Vec<Violation> {
    let setup = setup(terraform);
    let policy = deploy_role::policy_document(&setup.bootstrap, "operator", &setup.context).unwrap();
    deploy_role::operator_coverage(&setup.table, &policy, iam())
}

#[test]
fn the_operator_policy_allows_every_operator_call_and_nothing_more() {
    let violations = operator_coverage(&terraform_dir());
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn an_operator_policy_missing_a_call_or_granting_more_is_caught() {
    let missing = BrokenCopy::new("operator-missing").edit(
        "bootstrap/operator.tf",
        "\"sqs:ReceiveMessage\", \"sqs:ChangeMessageVisibility\", ",
        "\"sqs:ReceiveMessage\", ",
    );
    assert_caught(
        operator_coverage(&missing.dir),
        "operator-least-privilege",
        "sqs:ChangeMessageVisibility",
    );
    let more = BrokenCopy::new("operator-more").edit(
        "bootstrap/operator.tf",
        "\"sqs:StartMessageMoveTask\", \"sqs:ListMessageMoveTasks\",",
        "\"sqs:StartMessageMoveTask\", \"sqs:ListMessageMoveTasks\", \"sqs:PurgeQueue\",",
    );
    assert_caught(
        operator_coverage(&more.dir),
        "operator-least-privilege",
        "grants sqs:PurgeQueue, which no operator call needs",
    );
    let wider = BrokenCopy::new("operator-wider").edit(
        "bootstrap/operator.tf",
        "table/${var.project}-${each.key}-events\"]",
        "table/*\"]",
    );
    assert_caught(
        operator_coverage(&wider.dir),
        "operator-least-privilege",
        "grants dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:123456789012:table/webhooks-elsewhere-events, another environment's",
    );
}
