//! The bootstrap's roles against the deploy-permissions table: coverage, least privilege, no
//! reach into the other environment, the functions' boundary, no self-escalation; each shown to
//! catch a deliberately broken copy, and the bootstrap as it was before environments were
//! isolated (`fixtures/bootstrap-before-isolation`) shown to fail every finding of that review.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::broken_copy::{BrokenCopy, assert_caught, terraform_dir};
use checks::Violation;
use checks::terraform::check_data;
use checks::terraform::deploy_role::{self, Account, EscalationTargets};
use checks::terraform::iam::{Decision, IamDefinitions, PolicyDocument, Request, RequestContext};
use checks::terraform::permissions::{DeployPermissions, Role};
use checks::terraform::rules::Tree;
use hcl::Value;
use hcl::eval::{Context, Evaluate};
use terraform_config::{Module, label};

fn iam() -> &'static IamDefinitions {
    static IAM: OnceLock<IamDefinitions> = OnceLock::new();
    IAM.get_or_init(|| {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
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

fn setup_for(terraform: &Path, account: Account) -> Setup {
    let table = DeployPermissions::load(&terraform.join("bootstrap/deploy-permissions.json")).unwrap();
    let tree = Tree::load(terraform).unwrap();
    let bootstrap = Module::load(terraform.join("bootstrap")).unwrap();
    let context = deploy_role::bootstrap_context(&bootstrap, &table, account).unwrap();
    Setup {
        table,
        tree,
        bootstrap,
        context,
    }
}

fn setup(terraform: &Path) -> Setup {
    setup_for(terraform, Account::Shared)
}

fn document(setup: &Setup, role: &Role) -> PolicyDocument {
    let name = match role {
        Role::Deploy => "deploy",
        Role::Plan => "plan",
        Role::Smoke => "smoke",
        Role::Operator => "operator",
        Role::Function(_) => "function_boundary",
    };
    deploy_role::policy_document(&setup.bootstrap, name, &setup.context).unwrap()
}

fn coverage_in(terraform: &Path, role: &Role, account: Account) -> Vec<Violation> {
    let setup = setup_for(terraform, account);
    let policy = document(&setup, role);
    let mut violations = deploy_role::coverage(&setup.table, role, &policy, iam(), account);
    violations.extend(deploy_role::deny_conditions(role, &policy, iam()));
    if *role == Role::Deploy {
        let types = deploy_role::environment_types(&setup.tree);
        violations.extend(deploy_role::rows_for_types(&setup.table, &types));
    }
    violations
}

fn coverage(terraform: &Path, role: &Role) -> Vec<Violation> {
    coverage_in(terraform, role, Account::Shared)
}

fn cross_environment(terraform: &Path, role: &Role) -> Vec<Violation> {
    let setup = setup(terraform);
    let policy = document(&setup, role);
    deploy_role::cross_environment(&setup.table, role, &policy, iam())
}

const ROLES: [Role; 4] = [Role::Deploy, Role::Plan, Role::Smoke, Role::Operator];

fn listed(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_role_allows_every_call_it_makes_and_nothing_more() {
    for role in &ROLES {
        let violations = coverage(&terraform_dir(), role);
        assert!(violations.is_empty(), "{role} role:\n{}", listed(&violations));
    }
}

#[test]
fn the_deploy_role_of_an_account_of_its_own_may_also_change_subscriptions() {
    let violations = coverage_in(&terraform_dir(), &Role::Deploy, Account::Own);
    assert!(violations.is_empty(), "violations:\n{}", listed(&violations));
    let shared = setup(&terraform_dir());
    let policy = document(&shared, &Role::Deploy);
    let context = RequestContext::from([("aws:RequestedRegion".to_owned(), vec!["eu-west-1".to_owned()])]);
    let unsubscribe = Request {
        action: "sns:Unsubscribe",
        resource: "*",
        context: &context,
    };
    assert_eq!(
        policy.decide(&unsubscribe),
        Decision::NotAllowed,
        "not in a shared account"
    );
}

#[test]
fn no_role_reaches_the_other_environment() {
    for role in &ROLES {
        let violations = cross_environment(&terraform_dir(), role);
        assert!(violations.is_empty(), "{role} role:\n{}", listed(&violations));
    }
}

#[test]
fn only_the_smoke_role_reads_the_signing_secret() {
    let setup = setup(&terraform_dir());
    let secret = setup
        .table
        .fill("arn:{partition}:secretsmanager:{region}:{account}:secret:{project}-{environment}/stripe-webhook-secret-{secret_suffix}");
    let context = RequestContext::new();
    let read = Request {
        action: "secretsmanager:GetSecretValue",
        resource: &secret,
        context: &context,
    };
    for role in &ROLES {
        let decision = document(&setup, role).decide(&read);
        let allowed = matches!(decision, Decision::Allowed(_));
        assert_eq!(allowed, *role == Role::Smoke, "{role} role: {decision:?}");
    }
}

#[test]
fn the_deploy_role_cannot_escalate() {
    let violations = escalation(&terraform_dir());
    assert!(violations.is_empty(), "violations:\n{}", listed(&violations));
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
    let policy = document(&setup, &Role::Deploy);
    deploy_role::self_escalation(&policy, &targets(&setup))
}

/// The pipeline module's context for one function: its variables at their defaults (the
/// default topology), its locals, and the attributes its policies name, from the sample.
fn pipeline_context(table: &DeployPermissions, pipeline: &Module) -> Context<'static> {
    let mut variables = pipeline.variable_defaults().unwrap();
    variables.insert("project".to_owned(), Value::from(table.sample["project"].clone()));
    variables.insert("environment".to_owned(), Value::from(table.environment()));
    // The notifier's sender: the sample's SES identity (an environment's own setting).
    variables.insert(
        "notification_sender".to_owned(),
        Value::from("billing@example.com"),
    );
    let mut context = terraform_config::terraform_functions();
    context.declare_var("var", Value::Object(variables));
    let data: Value = hcl::value!({
        aws_caller_identity = { current = { account_id = (table.sample["account"].clone()) } }
        aws_partition = { current = { partition = (table.sample["partition"].clone()) } }
        aws_region = { current = { region = (table.sample["region"].clone()) } }
        aws_secretsmanager_secret = { signing = { arn = (table.fill("arn:{partition}:secretsmanager:{region}:{account}:secret:{project}-{environment}/stripe-webhook-secret-{secret_suffix}")) } }
    });
    context.declare_var("data", data);
    let modules: Value = hcl::value!({
        queue = { queue_arn = (table.fill("arn:{partition}:sqs:{region}:{account}:{project}-{environment}-events")) }
        table = { table_arn = (table.fill("arn:{partition}:dynamodb:{region}:{account}:table/{project}-{environment}-events")) }
    });
    context.declare_var("module", modules);
    context.declare_var("aws_sns_topic", hcl::value!({ events = [] }));
    context.declare_var(
        "aws_sqs_queue",
        hcl::value!({
            notifier_failures = [{
                arn = (table
                    .fill("arn:{partition}:sqs:{region}:{account}:{project}-{environment}-notifier-failures"))
            }]
        }),
    );
    let locals = pipeline.locals_in(&context);
    context.declare_var("local", Value::Object(locals));
    context
}

fn boundary_coverage(terraform: &Path) -> Vec<Violation> {
    let setup = setup(terraform);
    let boundary = document(&setup, &Role::Function(String::new()));
    let pipeline = Module::load(terraform.join("modules/pipeline")).unwrap();
    let function = Module::load(terraform.join("modules/function")).unwrap();
    let pipeline_context = pipeline_context(&setup.table, &pipeline);
    let attached: BTreeSet<String> = function
        .resources("aws_iam_role_policy_attachment")
        .values()
        .filter_map(|block| {
            let arn = terraform_config::attribute(block.body(), "policy_arn")?
                .evaluate(&pipeline_context)
                .ok()?;
            arn.as_str()
                .and_then(|arn| arn.rsplit('/').next())
                .map(str::to_owned)
        })
        .collect();
    let mut violations = Vec::new();
    for (name, document) in [
        ("webhook-api", "api"),
        ("webhook-worker", "worker"),
        ("webhook-notifier", "notifier"),
    ] {
        let inline = deploy_role::policy_document(&pipeline, document, &pipeline_context).unwrap();
        let mut function_context = terraform_config::terraform_functions();
        let log_group = setup
            .table
            .fill(&format!("arn:{{partition}}:logs:{{region}}:{{account}}:log-group:/aws/lambda/{{project}}-{{environment}}-{name}"));
        function_context.declare_var(
            "aws_cloudwatch_log_group",
            hcl::value!({ this = { arn = (log_group) } }),
        );
        let logs = deploy_role::policy_document(&function, "logs", &function_context).unwrap();
        violations.extend(deploy_role::boundary_coverage(
            &setup.table,
            name,
            &[inline, logs],
            &attached,
            &boundary,
            iam(),
        ));
    }
    violations
}

#[test]
fn each_function_is_allowed_its_calls_by_its_role_and_its_boundary() {
    let violations = boundary_coverage(&terraform_dir());
    assert!(violations.is_empty(), "violations:\n{}", listed(&violations));
}

#[test]
fn a_boundary_narrower_than_a_function_call_is_caught() {
    let copy = BrokenCopy::new("boundary-narrow").edit(
        "bootstrap/main.tf",
        "    actions   = [\"dynamodb:PutItem\", \"dynamodb:UpdateItem\", \"dynamodb:ConditionCheckItem\", \"dynamodb:GetItem\"]",
        "    actions   = [\"dynamodb:PutItem\", \"dynamodb:ConditionCheckItem\", \"dynamodb:GetItem\"]",
    );
    assert_caught(
        boundary_coverage(&copy.dir),
        "function-boundary",
        "the permissions boundary: no statement of the policy allows it",
    );
    let role = BrokenCopy::new("boundary-role").edit(
        "modules/pipeline/main.tf",
        "    actions   = [\"dynamodb:PutItem\", \"dynamodb:UpdateItem\", \"dynamodb:ConditionCheckItem\"]",
        "    actions   = [\"dynamodb:PutItem\", \"dynamodb:ConditionCheckItem\"]",
    );
    assert_caught(
        boundary_coverage(&role.dir),
        "function-boundary",
        "dynamodb:UpdateItem on arn:aws:dynamodb:eu-west-1:123456789012:table/webhooks-dev-events: no policy of the webhook-worker role allows it",
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
        coverage(&copy.dir, &Role::Deploy),
        "deploy-role-coverage",
        "conditions on lambda:FunctionArn",
    );
}

#[test]
fn a_deny_on_a_key_the_action_never_carries_is_caught() {
    let copy = BrokenCopy::new("deny-key").edit(
        "bootstrap/main.tf",
        "    actions   = [\"lambda:UntagResource\", \"logs:UntagResource\"]",
        "    actions   = [\"lambda:UntagResource\", \"logs:UntagResource\", \"lambda:GetFunction\"]",
    );
    assert_caught(
        coverage(&copy.dir, &Role::Deploy),
        "deploy-role-least-privilege",
        "denies lambda:GetFunction on condition aws:TagKeys",
    );
}

#[test]
fn a_wrong_resource_for_an_action_is_caught() {
    let copy = BrokenCopy::new("deploy-describe").edit(
        "bootstrap/main.tf",
        "    actions   = [\"logs:DescribeLogGroups\", \"sns:GetSubscriptionAttributes\", \"xray:GetSamplingRules\"]\n    resources = [\"*\"]",
        "    actions   = [\"sns:GetSubscriptionAttributes\", \"xray:GetSamplingRules\"]\n    resources = [\"*\"]",
    );
    assert_caught(
        coverage(&copy.dir, &Role::Deploy),
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
        coverage(&copy.dir, &Role::Deploy),
        "deploy-role-coverage",
        "aws_sqs_queue_redrive_policy",
    );
}

#[test]
fn a_grant_no_call_needs_is_caught() {
    let copy = BrokenCopy::new("deploy-unused").edit(
        "bootstrap/main.tf",
        "\"sqs:ListQueueTags\", \"sqs:TagQueue\", \"sqs:UntagQueue\",",
        "\"sqs:ListQueueTags\", \"sqs:TagQueue\", \"sqs:UntagQueue\", \"sqs:PurgeQueue\",",
    );
    assert_caught(
        coverage(&copy.dir, &Role::Deploy),
        "deploy-role-least-privilege",
        "grants sqs:PurgeQueue, which no deploy call needs",
    );
}

#[test]
fn a_deploy_role_that_can_write_its_own_role_is_caught() {
    // The policy as it once was: roles by name prefix, which the deploy role's own name matches.
    let copy = BrokenCopy::new("deploy-self")
        .edit(
            "bootstrap/main.tf",
            "    resources = [\"arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*\"]\n\n    condition {\n      test     = \"StringEquals\"\n      variable = \"iam:PermissionsBoundary\"",
            "    resources = [\"arn:${local.partition}:iam::${local.account}:role/${var.project}-${each.key}-*\"]\n\n    condition {\n      test     = \"StringEquals\"\n      variable = \"iam:PermissionsBoundary\"",
        )
        .edit(
            "bootstrap/main.tf",
            "      \"arn:${local.partition}:iam::${local.account}:role/${var.project}-*-github-*\",\n",
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
    let context = pipeline_context(&setup.table, &pipeline);
    let locals = pipeline.locals_in(&context);
    assert_eq!(locals["permissions_boundary_arn"], Value::from(boundary));

    let role_path = locals["role_path"].as_str().unwrap().to_owned();
    let worker = locals["names"].as_object().unwrap()["worker"]
        .as_str()
        .unwrap()
        .to_owned();
    let function = Module::load(terraform_dir().join("modules/function")).unwrap();
    let role_name = terraform_config::attribute(function.resources("aws_iam_role")["this"].body(), "name")
        .unwrap()
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

#[test]
fn a_plan_role_that_can_write_is_caught() {
    let copy = BrokenCopy::new("plan-write").edit(
        "bootstrap/main.tf",
        "    actions = local.plan_named_reads\n",
        "    actions = concat(local.plan_named_reads, [\"lambda:UpdateFunctionCode\"])\n",
    );
    assert_caught(
        coverage(&copy.dir, &Role::Plan),
        "plan-role-read-only",
        "lambda:UpdateFunctionCode",
    );
    let state = BrokenCopy::new("plan-state").edit(
        "bootstrap/main.tf",
        "    resources = [\"${aws_s3_bucket.state[each.key].arn}/${var.project}/${each.key}/*.tflock\"]",
        "    resources = [\"${aws_s3_bucket.state[each.key].arn}/${var.project}/${each.key}/*\"]",
    );
    assert_caught(
        coverage(&state.dir, &Role::Plan),
        "plan-role-read-only",
        "s3:PutObject on arn:aws:s3:::my-org-webhooks-tfstate-dev/webhooks/dev/terraform.tfstate",
    );
}

#[test]
fn a_read_added_to_the_table_reaches_the_plan_role_without_an_edit_to_its_policy() {
    // The plan's reads of named resources come from the table: a new read call in a row is
    // granted as soon as the row says so. A hand-written plan policy would miss it.
    let copy = BrokenCopy::new("plan-derived").edit(
        "bootstrap/deploy-permissions.json",
        "      \"read\": [\n        \"sqs:GetQueueAttributes\",\n        \"sqs:GetQueueUrl\"\n      ],",
        "      \"read\": [\n        \"sqs:GetQueueAttributes\",\n        \"sqs:GetQueueUrl\",\n        \"sqs:ListDeadLetterSourceQueues\"\n      ],",
    );
    let setup = setup(&copy.dir);
    let plan = document(&setup, &Role::Plan);
    let granted = plan
        .statement("ReadNamedResources")
        .map(|statement| statement.actions.clone())
        .unwrap_or_default();
    assert!(
        granted
            .iter()
            .any(|action| action == "sqs:ListDeadLetterSourceQueues"),
        "{granted:?}"
    );
    let violations = coverage(&copy.dir, &Role::Plan);
    assert!(violations.is_empty(), "{}", listed(&violations));
}

#[test]
fn a_plan_role_that_cannot_refresh_is_caught() {
    let copy = BrokenCopy::new("plan-read").edit(
        "bootstrap/main.tf",
        "    actions   = [\"lambda:GetEventSourceMapping\", \"lambda:ListTags\"]",
        "    actions   = [\"lambda:GetEventSourceMapping\"]",
    );
    assert_caught(
        coverage(&copy.dir, &Role::Plan),
        "plan-role-coverage",
        "lambda:ListTags on arn:aws:lambda:eu-west-1:123456789012:event-source-mapping",
    );
}

#[test]
fn an_operator_policy_missing_a_call_or_granting_more_is_caught() {
    let missing = BrokenCopy::new("operator-missing").edit(
        "bootstrap/operator.tf",
        "\"sqs:ReceiveMessage\", \"sqs:ChangeMessageVisibility\", ",
        "\"sqs:ReceiveMessage\", ",
    );
    assert_caught(
        coverage(&missing.dir, &Role::Operator),
        "operator-coverage",
        "sqs:ChangeMessageVisibility",
    );
    let more = BrokenCopy::new("operator-more").edit(
        "bootstrap/operator.tf",
        "\"sqs:StartMessageMoveTask\", \"sqs:ListMessageMoveTasks\",",
        "\"sqs:StartMessageMoveTask\", \"sqs:ListMessageMoveTasks\", \"sqs:PurgeQueue\",",
    );
    assert_caught(
        coverage(&more.dir, &Role::Operator),
        "operator-least-privilege",
        "grants sqs:PurgeQueue, which no operator call needs",
    );
    let wider = BrokenCopy::new("operator-wider").edit(
        "bootstrap/operator.tf",
        "table/${var.project}-${each.key}-events\"]",
        "table/*\"]",
    );
    assert_caught(
        cross_environment(&wider.dir, &Role::Operator),
        "cross-environment",
        "dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:123456789012:table/webhooks-dev-events: also allowed on arn:aws:dynamodb:eu-west-1:123456789012:table/webhooks-prod-events",
    );
}

/// Terraform's view of the environments' names: every GitHub trust policy, rendered.
fn trust_subjects(terraform: &Path) -> Vec<String> {
    let setup = setup(terraform);
    let block = setup
        .bootstrap
        .blocks_of("data")
        .find(|block| {
            label(block, 0) == Some("aws_iam_policy_document") && label(block, 1) == Some("github_trust")
        })
        .unwrap();
    let mut subjects = Vec::new();
    let environments = setup.bootstrap.locals_in(&setup.context);
    let github_environments = environments["github_environments"].as_object().unwrap().clone();
    for (_, environment) in github_environments {
        let mut context = setup.context.clone();
        context.declare_var("each", hcl::value!({ value = (environment) }));
        let mut locals = setup.bootstrap.locals_in(&context);
        locals.insert(
            "oidc_arn".to_owned(),
            Value::from("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"),
        );
        context.declare_var("local", Value::Object(locals));
        let policy = PolicyDocument::render(block, &context).unwrap();
        for statement in &policy.statements {
            for condition in &statement.conditions {
                if condition.variable.ends_with(":sub") {
                    subjects.extend(condition.values.iter().cloned());
                }
            }
        }
    }
    subjects
}

#[test]
fn only_the_deploy_workflow_from_main_can_assume_a_role() {
    let subjects = trust_subjects(&terraform_dir());
    assert_eq!(
        subjects.len(),
        6,
        "plan, deploy and smoke for dev and prod: {subjects:#?}"
    );
    let workflow = ".github/workflows/deploy-environment.yml";
    assert!(terraform_dir().join("..").join(workflow).exists());
    for subject in &subjects {
        assert!(
            subject.starts_with("repo:my-org/traced-webhooks:environment:")
                && subject.ends_with(&format!(
                    ":job_workflow_ref:my-org/traced-webhooks/{workflow}@refs/heads/main"
                )),
            "{subject}"
        );
    }
}

#[test]
fn environment_names_cannot_contain_a_separator() {
    let bootstrap = Module::load(terraform_dir().join("bootstrap")).unwrap();
    let refused = |module: &Module, variable: &str, value: Value| {
        !module
            .failed_validations(variable, &hcl::Map::from_iter([(variable.to_owned(), value)]))
            .unwrap()
            .is_empty()
    };
    assert!(refused(&bootstrap, "environments", hcl::value!(["dev", "dev-x"])));
    assert!(!refused(
        &bootstrap,
        "environments",
        hcl::value!(["dev", "prod2"])
    ));
    let pipeline = Module::load(terraform_dir().join("modules/pipeline")).unwrap();
    assert!(refused(&pipeline, "environment", Value::from("dev-x")));
    assert!(!refused(&pipeline, "environment", Value::from("prod2")));
}

#[test]
fn the_bootstrap_creates_the_service_linked_roles_the_first_apply_needs() {
    let script =
        service_linked_roles(&terraform_dir()).expect("a terraform_data runs service-linked-roles.sh");
    assert!(
        script.contains("--aws-service-name ops.apigateway.amazonaws.com"),
        "{script}"
    );
    assert!(script.contains("application-signals start-discovery"), "{script}");
}

/// The script the bootstrap runs for the service-linked roles, if it runs one.
fn service_linked_roles(terraform: &Path) -> Option<String> {
    let bootstrap = Module::load(terraform.join("bootstrap")).ok()?;
    let runs = bootstrap.resources("terraform_data").values().any(|block| {
        block.body().blocks().any(|provisioner| {
            terraform_config::attribute(provisioner.body(), "command")
                .is_some_and(|command| format!("{command:?}").contains("service-linked-roles.sh"))
        })
    });
    runs.then(|| std::fs::read_to_string(terraform.join("bootstrap/service-linked-roles.sh")).ok())?
}

/// The bootstrap as it was before environments were isolated: its `main.tf` and `variables.tf`
/// (with only the state bucket's reference adapted to today's per-environment buckets, so that
/// it renders), in a copy of today's tree.
fn before_isolation() -> BrokenCopy {
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bootstrap-before-isolation");
    let copy = BrokenCopy::new("before-isolation");
    for file in ["main.tf", "variables.tf"] {
        std::fs::copy(fixtures.join(file), copy.dir.join("bootstrap").join(file)).unwrap();
    }
    for file in ["smoke.tf", "account.tf"] {
        std::fs::remove_file(copy.dir.join("bootstrap").join(file)).unwrap();
    }
    copy
}

#[test]
fn the_bootstrap_before_isolation_fails_every_finding() {
    let copy = before_isolation();
    let deploy = cross_environment(&copy.dir, &Role::Deploy);
    let plan = cross_environment(&copy.dir, &Role::Plan);
    eprintln!(
        "deploy role:\n{}\n\nplan role:\n{}",
        listed(&deploy),
        listed(&plan)
    );
    // 1. API Gateway: dev could repoint prod's integration.
    assert_caught(
        deploy.clone(),
        "cross-environment",
        "apigateway:PUT on arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5/resources/r1s2t3/methods/POST/integration: also allowed on arn:aws:apigateway:eu-west-1::/restapis/f6g7h8i9j0/resources/r1s2t3/methods/POST/integration",
    );
    assert_caught(
        plan.clone(),
        "cross-environment",
        "apigateway:GET on arn:aws:apigateway:eu-west-1::/restapis/a1b2c3d4e5",
    );
    // 2. SNS subscriptions: a write on `*`.
    assert_caught(
        deploy.clone(),
        "cross-environment",
        "sns:Unsubscribe on *: the request names no environment",
    );
    // 3. Stripe partner rules: another bus, another queue.
    assert_caught(
        deploy.clone(),
        "cross-environment",
        "rule on the other environment's Stripe bus",
    );
    assert_caught(
        deploy.clone(),
        "cross-environment",
        "delivering to the other environment's queue",
    );
    // 4. Execution log groups, event source mappings.
    assert_caught(
        deploy.clone(),
        "cross-environment",
        "also allowed on arn:aws:logs:eu-west-1:123456789012:log-group:API-Gateway-Execution-Logs_f6g7h8i9j0/live",
    );
    assert_caught(
        deploy.clone(),
        "cross-environment",
        "also allowed on arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:9c8b7a6d",
    );
    // 4. X-Ray resource policies on `*`, granted for no call now that the bootstrap owns them.
    assert_caught(
        coverage(&copy.dir, &Role::Deploy),
        "deploy-role-least-privilege",
        "grants xray:PutResourcePolicy, which no deploy call needs",
    );
    // 4. Environment names with a separator.
    let bootstrap = Module::load(copy.dir.join("bootstrap")).unwrap();
    assert!(
        bootstrap
            .failed_validations(
                "environments",
                &hcl::Map::from_iter([("environments".to_owned(), hcl::value!(["dev-x"]))])
            )
            .unwrap()
            .is_empty(),
        "the old bootstrap accepted dev-x"
    );
    // 6. The first plan: ListBucket without s3:prefix.
    assert_caught(
        coverage(&copy.dir, &Role::Plan),
        "plan-role-coverage",
        "s3:ListBucket on arn:aws:s3:::my-org-webhooks-tfstate-dev: no statement of the policy allows it",
    );
    // 7. No service-linked roles.
    assert_eq!(service_linked_roles(&copy.dir), None);
    // 8. Any workflow in the GitHub environment could assume the roles.
    assert!(
        trust_subjects(&copy.dir)
            .iter()
            .all(|subject| !subject.contains("job_workflow_ref"))
    );
    // 9. The deploy job could read the signing secret.
    let setup = setup(&copy.dir);
    let secret = setup
        .table
        .fill("arn:{partition}:secretsmanager:{region}:{account}:secret:{project}-{environment}/stripe-webhook-secret-{secret_suffix}");
    let context = RequestContext::new();
    let read = Request {
        action: "secretsmanager:GetSecretValue",
        resource: &secret,
        context: &context,
    };
    assert!(matches!(
        document(&setup, &Role::Deploy).decide(&read),
        Decision::Allowed(_)
    ));
}

#[test]
fn the_notifier_may_mark_notification_items_only_and_send_from_its_sender_only() {
    let setup = setup(&terraform_dir());
    let pipeline = Module::load(terraform_dir().join("modules/pipeline")).unwrap();
    let context = pipeline_context(&setup.table, &pipeline);
    let policy = deploy_role::policy_document(&pipeline, "notifier", &context).unwrap();
    let table = setup
        .table
        .fill("arn:{partition}:dynamodb:{region}:{account}:table/{project}-{environment}-events");
    let decide = |action: &str, resource: &str, context: &[(&str, &str)]| {
        let context: RequestContext = context
            .iter()
            .map(|(key, value)| ((*key).to_owned(), vec![(*value).to_owned()]))
            .collect();
        policy.decide(&Request {
            action,
            resource,
            context: &context,
        })
    };
    let leading = |key: &'static str| [("dynamodb:LeadingKeys", key)];
    assert!(matches!(
        decide("dynamodb:UpdateItem", &table, &leading("NOTIFICATION#evt_1")),
        Decision::Allowed(_)
    ));
    for (action, key) in [
        ("dynamodb:UpdateItem", "CUSTOMER#cus_1"),
        ("dynamodb:UpdateItem", "EVENT#evt_1"),
        ("dynamodb:GetItem", "CUSTOMER#cus_1"),
    ] {
        assert_eq!(
            decide(action, &table, &leading(key)),
            Decision::NotAllowed,
            "{action} {key}"
        );
    }
    assert_eq!(
        decide("dynamodb:PutItem", &table, &leading("NOTIFICATION#evt_1")),
        Decision::NotAllowed
    );
    let identity = setup
        .table
        .fill("arn:{partition}:ses:{region}:{account}:identity/billing@example.com");
    let send = |from: &str| decide("ses:SendEmail", &identity, &[("ses:FromAddress", from)]);
    assert!(matches!(send("billing@example.com"), Decision::Allowed(_)));
    assert_eq!(send("ceo@example.com"), Decision::NotAllowed);
}
