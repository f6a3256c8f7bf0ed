//! mssql-preflight library.
