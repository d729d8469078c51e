//! Shared by the store's tests: a database left by an earlier version of confab.

use std::path::Path;

/// Every migration, in order, as sqlx applies them.
const MIGRATIONS: [(i64, &str, &str); 7] = [
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (2, "calls", include_str!("../../migrations/0002_calls.sql")),
    (
        3,
        "callbacks",
        include_str!("../../migrations/0003_callbacks.sql"),
    ),
    (
        4,
        "phone numbers",
        include_str!("../../migrations/0004_phone_numbers.sql"),
    ),
    (
        5,
        "callbacks pending",
        include_str!("../../migrations/0005_callbacks_pending.sql"),
    ),
    (
        6,
        "callbacks rowid",
        include_str!("../../migrations/0006_callbacks_rowid.sql"),
    ),
    (
        7,
        "callback outcomes",
        include_str!("../../migrations/0007_callback_outcomes.sql"),
    ),
];

/// A database at `path` with the schema of `version`: the migrations up to it applied and
/// recorded as sqlx records them, so that opening the store applies only the later ones.
pub(crate) fn database_at(path: &Path, version: i64) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open an old database");
    conn.execute_batch(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);",
    )
    .expect("migrations table");
    for (number, description, sql) in MIGRATIONS.into_iter().filter(|m| m.0 <= version) {
        conn.execute_batch(sql).expect("schema");
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, 1, ?3, 0)",
            rusqlite::params![number, description, sha384(sql.as_bytes())],
        )
        .expect("record migration");
    }
    conn
}

/// sqlx records each applied migration with the SHA-384 of its text.
fn sha384(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha384::digest(data).to_vec()
}
