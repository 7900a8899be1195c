//! Values for copying a database from one store to another (`verifyd migrate-store`): a row
//! travels as the cells SQLite stored, so that the copy needs no knowledge of the domain.

/// One value as SQLite stores it: its five storage classes. A target store maps each to its
/// column's type (a boolean column takes `Integer` 0 or 1).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}
