import PrivateServers
import FleetServer
import WardenCore

// The tests' PostgreSQL and child processes are the product's own, which `warden bench
// fleet` uses too.
typealias TestPostgres = PrivatePostgres
typealias TestPostgresError = PrivatePostgresError
typealias Spawn = ChildProcess
