//! Statement text built from the filters a caller set.
//!
//! Most lists use one fixed statement with `($1 IS NULL OR col = $1)`
//! guards. Rules and alerts grow large, and SQLite plans that guard
//! without looking at the bound value, so it cannot pick the index for
//! the filter; these lists instead get only the conditions that are set.

/// A `WHERE` clause whose parameters are numbered as conditions are added.
/// The caller binds values in the same order it added them.
pub(crate) struct Where {
    sql: String,
    params: usize,
}

impl Where {
    /// Starts from a condition that always applies.
    pub(crate) fn new(base: &str) -> Self {
        Where {
            sql: format!(" WHERE {base}"),
            params: 0,
        }
    }

    /// The number of the next parameter (`$n`).
    pub(crate) fn param(&mut self) -> usize {
        self.params += 1;
        self.params
    }

    pub(crate) fn and(&mut self, condition: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.sql
    }
}
