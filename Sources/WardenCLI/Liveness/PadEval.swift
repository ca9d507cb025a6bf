import ArgumentParser
struct PadEval: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "placeholder")
    func run() throws {}
}
