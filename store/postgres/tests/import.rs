//! A copy into an empty database: rows land in their columns' types, identity sequences move
//! past the copied values, a copy dropped before its commit leaves nothing, and a cell that
//! does not fit its column is refused by name. Skipped where `VERIFYD_TEST_POSTGRES_URL` is
//! not set.

use verifyd_core::store::{Cell, Change, Cursor, Page, Store};
use verifyd_store_contract::fixtures::{service, tenant};
use verifyd_store_postgres::{PostgresOptions, PostgresStore, ScratchSchema};

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const VA: &str = "VA0123456789abcdef0123456789abcdef";

async fn open() -> Option<(PostgresStore, ScratchSchema)> {
    let schema = ScratchSchema::new().await?;
    let store = PostgresStore::connect(schema.url(), &PostgresOptions::default()).await.expect("a database");
    Some((store, schema))
}

fn names(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| (*c).to_owned()).collect()
}

fn account_row() -> (Vec<String>, Vec<Cell>) {
    (
        names(&[
            "sid",
            "friendly_name",
            "auth_token_hash",
            "auth_token_sealed",
            "date_created",
            "date_updated",
            "token_from_config",
        ]),
        vec![
            Cell::Text(AC.into()),
            Cell::Text("copied".into()),
            Cell::Blob(vec![1, 2]),
            Cell::Blob(vec![3, 4]),
            Cell::Integer(1_767_225_600),
            Cell::Integer(1_767_225_600),
            Cell::Integer(1),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copied_rows_read_back_and_new_rows_list_after_them() {
    let Some((store, _schema)) = open().await else {
        eprintln!("skipped: {} is not set", verifyd_store_postgres::TEST_URL_VARIABLE);
        return;
    };
    assert!(store.is_empty().await.unwrap());
    let mut import = store.begin_import().await.unwrap();
    let (columns, row) = account_row();
    assert_eq!(import.rows("accounts", &columns, vec![row]).await.unwrap(), 1);
    let settings = serde_json::to_string(&service(&AC.parse().unwrap(), "x").settings).unwrap();
    let service_columns = names(&["seq", "sid", "account_sid", "settings", "date_created", "date_updated"]);
    let copied = vec![
        Cell::Integer(41),
        Cell::Text(VA.into()),
        Cell::Text(AC.into()),
        Cell::Text(settings),
        Cell::Integer(5),
        Cell::Integer(6),
    ];
    assert_eq!(import.rows("services", &service_columns, vec![copied]).await.unwrap(), 1);
    import.commit().await.unwrap();
    assert!(!store.is_empty().await.unwrap());

    let account = store.account(&AC.parse().unwrap()).await.unwrap().expect("copied");
    assert_eq!((account.friendly_name.as_str(), account.token_from_config), ("copied", true));
    let fresh = service(&AC.parse().unwrap(), "new");
    store.save(vec![Change::InsertService(fresh.clone())]).await.unwrap();
    let page = Page { cursor: Cursor::First, limit: 10, descending: false };
    let listed: Vec<(i64, String)> = store
        .list_services(&AC.parse().unwrap(), page)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.seq, s.sid.to_string()))
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], (41, VA.to_owned()));
    assert!(listed[1].0 > 41, "a new row numbers after the copied ones: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_dropped_before_its_commit_leaves_nothing_and_misfits_are_named() {
    let Some((store, _schema)) = open().await else {
        eprintln!("skipped: {} is not set", verifyd_store_postgres::TEST_URL_VARIABLE);
        return;
    };
    let mut import = store.begin_import().await.unwrap();
    let (columns, row) = account_row();
    import.rows("accounts", &columns, vec![row]).await.unwrap();
    drop(import);
    assert!(store.is_empty().await.unwrap(), "nothing of an uncommitted copy is kept");
    // The pool still works: the copy's connection never came back inside its transaction.
    tenant(&store, "after").await;

    let mut import = store.begin_import().await.unwrap();
    let (columns, mut row) = account_row();
    row[6] = Cell::Text("yes".into());
    let refused = import.rows("accounts", &columns, vec![row]).await.unwrap_err().to_string();
    assert!(refused.contains("accounts.token_from_config"), "{refused}");
    let refused = import.rows("pg_authid", &columns, vec![account_row().1]).await.unwrap_err().to_string();
    assert!(refused.contains("not a table of the store"), "{refused}");
}
