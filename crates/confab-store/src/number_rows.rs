//! SQL and row decoding for incoming phone numbers (see [`crate::rows`] for the shared
//! machinery).

use std::borrow::Cow;
use std::sync::LazyLock;

use confab_core::page::PageRequest;
use confab_core::time::Timestamp;
use confab_core::{AccountSid, PhoneNumber, PhoneNumberSid, E164};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::rows::{method, numbered, page_clause, Bind, Query};
use crate::StoreError;

/// Filters of List IncomingPhoneNumbers.
#[derive(Debug, Clone, Default)]
pub struct PhoneNumberFilter {
    /// `PhoneNumber` as sent: digits, each `*` standing for any one digit. With a leading `+`
    /// the digits must begin the number, without one they may appear anywhere in it, so
    /// `+1555` finds the numbers that start with +1555 and `0199` those that contain 0199.
    /// Any other character matches no number.
    pub phone_number: Option<String>,
    /// Exact `FriendlyName`.
    pub friendly_name: Option<String>,
}

const NUMBER_COLUMNS: &str = "sid, account_sid, phone_number, friendly_name, voice_url, \
    voice_method, voice_fallback_url, voice_fallback_method, status_callback, \
    status_callback_method, date_created, date_updated";

static NUMBER_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = NUMBER_COLUMNS.split(',').map(str::trim).collect();
    let placeholders = vec!["?"; columns.len()].join(", ");
    // The key, the owner, the number itself and the creation time never change.
    let set: Vec<String> = columns
        .iter()
        .filter(|c| !matches!(**c, "sid" | "account_sid" | "phone_number" | "date_created"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    numbered(&format!(
        "INSERT INTO phone_numbers ({NUMBER_COLUMNS}) VALUES ({placeholders}) \
         ON CONFLICT (sid) DO UPDATE SET {}",
        set.join(", ")
    ))
});

/// Inserts or replaces a number. Inserting a number another row holds fails on the unique
/// index (see [`StoreError::is_unique_violation`]).
pub(crate) fn number_upsert(n: &PhoneNumber) -> Query<'_> {
    Query {
        sql: Cow::Borrowed(NUMBER_UPSERT.as_str()),
        binds: vec![
            Bind::Text(n.sid.as_str().into()),
            Bind::Text(n.account_sid.as_str().into()),
            Bind::Text(n.phone_number.as_str().into()),
            Bind::Text(n.friendly_name.as_str().into()),
            Bind::OptText(n.voice_url.as_deref().map(Into::into)),
            Bind::Text(n.voice_method.as_str().into()),
            Bind::OptText(n.voice_fallback_url.as_deref().map(Into::into)),
            Bind::Text(n.voice_fallback_method.as_str().into()),
            Bind::OptText(n.status_callback.as_deref().map(Into::into)),
            Bind::Text(n.status_callback_method.as_str().into()),
            Bind::Int(n.date_created.0),
            Bind::Int(n.date_updated.0),
        ],
    }
}

/// Deletes a number of an account.
pub(crate) fn number_delete<'a>(account: &'a AccountSid, sid: &'a PhoneNumberSid) -> Query<'a> {
    let mut q = Query::new("DELETE FROM phone_numbers WHERE ");
    q.push(
        "account_sid = ? AND sid = ?",
        [
            Bind::Text(account.as_str().into()),
            Bind::Text(sid.as_str().into()),
        ],
    );
    q
}

/// Fetch IncomingPhoneNumber.
pub(crate) fn number_by_sid<'a>(account: &'a AccountSid, sid: &'a PhoneNumberSid) -> Query<'a> {
    let mut q = Query::new(&format!(
        "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE "
    ));
    q.push(
        "account_sid = ? AND sid = ?",
        [
            Bind::Text(account.as_str().into()),
            Bind::Text(sid.as_str().into()),
        ],
    );
    q
}

/// The number, whichever account holds it (inbound routing).
pub(crate) fn number_by_e164(number: &E164) -> Query<'_> {
    let mut q = Query::new(&format!(
        "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE "
    ));
    q.push("phone_number = ?", [Bind::Text(number.as_str().into())]);
    q
}

/// List IncomingPhoneNumbers: newest first, keyset paging on (date_created, sid).
pub(crate) fn number_list<'a>(
    account: &'a AccountSid,
    f: &'a PhoneNumberFilter,
    page: &'a PageRequest,
) -> (Query<'a>, bool) {
    let mut q = Query::new(&format!(
        "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE "
    ));
    q.push("account_sid = ?", [Bind::Text(account.as_str().into())]);
    if let Some(pattern) = &f.phone_number {
        match like_pattern(pattern) {
            // SUBSTR skips the `+`, so that `*` (`_`) only ever stands for a digit.
            Some(like) => q.push(
                " AND SUBSTR(phone_number, 2) LIKE ?",
                [Bind::Text(like.into())],
            ),
            None => q.push(" AND 1 = 0", []),
        };
    }
    if let Some(name) = &f.friendly_name {
        q.push(" AND friendly_name = ?", [Bind::Text(name.as_str().into())]);
    }
    let anchor = "(SELECT date_created, sid FROM phone_numbers WHERE sid = ?)";
    page_clause(
        &mut q,
        page,
        ("(date_created, sid) < ", "(date_created, sid) > "),
        anchor,
        "date_created DESC, sid DESC",
        "date_created ASC, sid ASC",
    )
}

/// The `LIKE` pattern of a `PhoneNumber` filter (see [`PhoneNumberFilter::phone_number`]);
/// `None` when it holds anything but digits and `*`. The result holds no `%` or `_` of the
/// client's, so nothing needs escaping.
fn like_pattern(filter: &str) -> Option<String> {
    let filter = filter.trim();
    let (anchored, digits) = match filter.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, filter),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'*') {
        return None;
    }
    let body = digits.replace('*', "_");
    Some(if anchored {
        format!("{body}%")
    } else {
        format!("%{body}%")
    })
}

pub(crate) fn number_from_row(row: &SqliteRow) -> Result<PhoneNumber, StoreError> {
    Ok(PhoneNumber {
        sid: PhoneNumberSid::from_stored(row.try_get("sid")?),
        account_sid: AccountSid::from_stored(row.try_get("account_sid")?),
        phone_number: E164::from_stored(row.try_get("phone_number")?),
        friendly_name: row.try_get("friendly_name")?,
        voice_url: row.try_get("voice_url")?,
        voice_method: method(row, "voice_method")?,
        voice_fallback_url: row.try_get("voice_fallback_url")?,
        voice_fallback_method: method(row, "voice_fallback_method")?,
        status_callback: row.try_get("status_callback")?,
        status_callback_method: method(row, "status_callback_method")?,
        date_created: Timestamp(row.try_get("date_created")?),
        date_updated: Timestamp(row.try_get("date_updated")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::SidStyle;

    #[test]
    fn upsert_binds_every_column() {
        let columns = NUMBER_COLUMNS.split(',').count();
        assert_eq!(NUMBER_UPSERT.matches('$').count(), columns);
        let number = PhoneNumber::new(
            PhoneNumberSid::mint(SidStyle::Twilio, 1),
            AccountSid::mint(SidStyle::Twilio, 2),
            E164::parse("+15550100199").expect("valid"),
            Timestamp(1),
        );
        assert_eq!(number_upsert(&number).binds.len(), columns);
    }

    #[test]
    fn filter_patterns() {
        assert_eq!(like_pattern("+1555").as_deref(), Some("1555%"));
        assert_eq!(like_pattern("0199").as_deref(), Some("%0199%"));
        assert_eq!(
            like_pattern("+1***0100199").as_deref(),
            Some("1___0100199%")
        );
        for refused in ["", "+", "555-0100", "1%", "1_2", "CALLME"] {
            assert_eq!(like_pattern(refused), None, "{refused:?}");
        }
    }
}
