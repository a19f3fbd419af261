//! `schemas/` holds the Avro schema of every stream, written by
//! `netpipe schemas` from the definitions the sources decode with. This
//! keeps the committed files and the code from drifting apart.

mod support;

use support::*;

#[test]
fn committed_schemas_match_the_generated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output = netpipe()
        .args(["schemas", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let committed = repo_root().join("schemas");
    let mut generated: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut in_repo: Vec<_> = std::fs::read_dir(&committed)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    generated.sort();
    in_repo.sort();
    assert_eq!(generated, in_repo, "run scripts/update-docs.sh");
    assert!(
        generated.len() > 40,
        "every aruba stream, split element, demo, gap and dead letter"
    );
    for name in generated {
        let fresh = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let old = std::fs::read_to_string(committed.join(&name)).unwrap();
        assert!(
            fresh == old,
            "{name:?} is stale: run scripts/update-docs.sh"
        );
    }
}
