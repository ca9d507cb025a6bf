import Foundation

/// A failure the CLI reports as one readable line on stderr with exit status 1.
package struct CLIError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

package enum Output {
    package static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Machine formats keep UTC, as ISO 8601 text: the default wrote seconds since 2001.
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// Progress and remarks on stderr, so stdout stays the result (and valid --json).
    package static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }

    package static func error(_ message: String) {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }

    package static func fixed(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }
}
