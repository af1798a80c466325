//! 500 webhooks through every fault at once: each class must strike (counted by the fault
//! proxy, the Lambda emulation and the sender) and every promise must hold, so a regression in
//! any recovery path (redelivery, the DLQ and the redrive, deadline handling, idempotency, trace
//! propagation through each) fails here.

use chaos::run::{self, ChaosOptions};
use chaos::schedule::FaultClass;
use local_pipeline::stack::{LocalStack, StackOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_webhooks_survive_every_fault_at_once() {
    let options = run::stack_options(StackOptions::for_workspace(&local_pipeline::workspace_root()));
    let mut stack = LocalStack::start(options)
        .await
        .expect("the local pipeline starts");
    let pids = stack.pids();
    let chaos = ChaosOptions {
        events: 500,
        seed: 1,
        deadline: std::time::Duration::from_secs(15 * 60),
        ..ChaosOptions::default()
    };
    let report = run::run(&mut stack, &chaos).await.expect("the run runs");
    stack.shutdown().await;
    let printed = report.render();

    for class in FaultClass::ALL {
        let injected = report
            .injected
            .iter()
            .find(|injected| injected.class == class)
            .unwrap_or_else(|| panic!("{} not in the report\n{printed}", class.name()));
        assert!(injected.count > 0, "{} never struck\n{printed}", class.name());
    }
    // What each fault must have made the pipeline do, not only that it was injected.
    assert!(
        report.redriven > 0,
        "nothing dead-lettered and redriven\n{printed}"
    );
    assert!(
        report.refused_answers.get(&503).is_some_and(|count| *count > 0),
        "no 503\n{printed}"
    );
    assert!(report.cold_starts >= 3, "kills without cold starts\n{printed}");
    assert!(
        report.timeouts + report.left_at_deadline as u64 > 0,
        "no deadline reached\n{printed}"
    );
    assert!(
        report.duplicates_marked > 0,
        "no redelivery found a duplicate\n{printed}"
    );
    assert!(
        report.full_batches.0 > 0,
        "no batch filled to the batch size\n{printed}"
    );
    assert!(
        report.sampled_events > 0 && report.sampled_events < 500,
        "sampled and unsampled\n{printed}"
    );
    assert_eq!(report.looked_up, 500, "{printed}");
    assert!(report.passed(), "{printed}");
    for pid in pids {
        assert!(!child_process::is_alive(pid), "process {pid} outlived the run");
    }
}
