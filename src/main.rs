fn main() {
    std::process::exit(mssql_preflight::cli::main());
}
