//! The store the contract suite runs on: this machine's own SQLite file by default, or a
//! fresh database on a real PostgreSQL server when `TILLWATCH_TEST_STORE=postgres`
//! (`scripts/test.sh` runs the suite both ways). One server per test binary, started on
//! first use and stopped when the binary exits; one database per test.

use std::sync::OnceLock;

use tillwatch_store_postgres::{DatabaseConfig, Password, PgStore};
use tillwatch_stores::AnyStore;

use crate::postgres::{Shared, TestPostgres};
use crate::test_dir::TestDir;

pub type TestStore = AnyStore;

/// Which store this run of the suite is on.
pub fn on_postgres() -> bool {
    std::env::var("TILLWATCH_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// A new, empty store for one test.
pub async fn test_store(dir: &TestDir) -> TestStore {
    if on_postgres() {
        static SERVER: OnceLock<Shared> = OnceLock::new();
        let server = SERVER.get_or_init(|| TestPostgres::start().keep_until_this_process_exits());
        let url = server.fresh_database();
        let config = DatabaseConfig::parse(&url)
            .unwrap()
            .with_password(Password::new(server.password()));
        AnyStore::Postgres(
            PgStore::connect(config)
                .await
                .expect("connect to the test server"),
        )
    } else {
        AnyStore::open_file(dir.path().join("tillwatch.db")).unwrap()
    }
}

/// Runs `sql` on the test's own handle to the store's database, past the store's code: a
/// row as another version (or a hand edit) might leave it.
pub async fn raw_sql(store: &TestStore, sql: &str) {
    match store {
        AnyStore::Sqlite(s) => rusqlite::Connection::open(s.path())
            .and_then(|c| c.execute_batch(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
        AnyStore::Postgres(s) => s
            .pool()
            .get()
            .await
            .expect("a connection")
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
    }
}
