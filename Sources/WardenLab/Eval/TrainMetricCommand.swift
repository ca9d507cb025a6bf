import CommandSupport
import WardenCLI
import WardenCore
import ArgumentParser
import FaceKit
import Foundation
import Matching
import MatchingLab

struct TrainMetricCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-metric",
        abstract: "Learn a site-specific metric on top of the face embeddings, with triplet or contrastive loss.",
        discussion: """
        DATASET is a folder per identity, as for `warden eval` (same embedding cache). The \
        identities are split by --seed into training, validation and test sets; no person \
        is in two of them. A linear projection (--head linear) or a two-layer head \
        (--head mlp: 128 -> 256 -> 128 with a ReLU) is learned on the training identities, \
        its output L2-normalised so distances stay comparable to the raw embedding's.

        Each batch holds --batch-identities people with --images-per-identity photos each; \
        negatives are mined within the batch (hard: the closest other person; semi-hard: \
        the closest one further than the positive). Losses, over distances D:
          contrastive  Y*D^2 + (1-Y)*max(margin - D, 0)
                       (--squared-hinge: (1-Y)*max(margin - D, 0)^2)
          triplet      max(d(a,p) - d(a,n) + margin, 0)
        Adam with weight decay; after each epoch the head is scored on the validation \
        identities (FNMR at FMR 1e-3, or 1e-2 when there are too few pairs) and the best \
        epoch is kept, stopping after --patience epochs without improvement. Training \
        starts from the identity, so if nothing beats the raw embedding on validation the \
        head returned is the raw embedding, and the report says so.

        The head is written with its metadata (training-set hash, loss, margin, split, \
        validation figures). It is not used until installed with thresholds calibrated \
        through it: `warden calibrate DATASET --metric-head FILE`. Compare it with the raw \
        embedding on its held-out test identities with \
        `warden eval DATASET --compare base,learned --metric-head FILE`.

        Examples:
          warden train-metric ../shared/faces --loss triplet --out heads/triplet.json
          warden train-metric ../shared/faces --loss contrastive --head mlp
        """
    )

    enum Loss: String, ExpressibleByArgument, CaseIterable { case triplet, contrastive }

    @OptionGroup var global: ModelCommandOptions
    @Argument(help: "Folder with one folder per identity.") var dataset: String
    @Option(help: "triplet or contrastive.") var loss: Loss = .triplet
    @Flag(help: "Contrastive only: square the different-person hinge.") var squaredHinge = false
    @Option(help: "linear or mlp.") var head: MetricHead.Kind = .linear
    @Option(help: "Loss margin (default 0.2 for triplet, 0.7 for contrastive).") var margin: Double?
    @Option(help: "hard or semi-hard.") var mining: NegativeMining = .semiHard
    @Option(help: "L2 penalty on the weights.") var weightDecay = 1e-4
    @Option(help: "Adam step size.") var learningRate = 1e-3
    @Option(help: "At most this many epochs.") var epochs = 60
    @Option(help: "Stop after this many epochs without a better validation score.") var patience = 10
    @Option(help: "People per batch.") var batchIdentities = 8
    @Option(help: "Photos per person per batch.") var imagesPerIdentity = 4
    @Option(help: "Share of identities held out for testing (never trained or validated on).") var testShare = 0.3
    @Option(help: "Share of identities for validation and early stopping.") var validationShare = 0.2
    @Option(help: "Seed for the split, batches and sampling.") var seed: UInt64 = 1
    @Option(help: "Use at most this many images per identity.") var maxPerIdentity = 50
    @Option(help: "Skip identity folders whose name contains this (repeatable).") var exclude: [String] = []
    @Option(help: "Where to write the head (default <home>/heads/<loss>-<head>.json).") var out: String?

    struct Report: Codable {
        let file: String
        let sha256: String
        let metadata: MetricHead.Metadata
        let history: [MetricTrainer.Epoch]
        let validationFMR: Double
        let improved: Bool
    }

    func validate() throws {
        guard !squaredHinge || loss == .contrastive else { throw ValidationError("--squared-hinge applies to --loss contrastive only") }
        if let margin, !(margin > 0 && margin < 2) { throw ValidationError("--margin must be between 0 and 2 (unit-vector distances)") }
        guard testShare >= 0, validationShare > 0, testShare + validationShare < 0.9 else {
            throw ValidationError("--test-share and --validation-share must leave at least 10% of identities to train on")
        }
        guard epochs >= 1, patience >= 1, batchIdentities >= 2, imagesPerIdentity >= 2 else {
            throw ValidationError("--epochs and --patience must be at least 1; batches need at least 2 people with 2 photos each")
        }
        guard learningRate > 0, weightDecay >= 0 else { throw ValidationError("--learning-rate must be positive and --weight-decay not negative") }
    }

    func run() throws {
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }
        let data = try EmbeddingSet.load(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, cropped: false,
                                         engine: engine, cache: global.wardenHome.path + "/cache", progress: !global.json)
        let split = data.split(testShare: testShare, validationShare: validationShare, seed: seed)
        guard split.train.count >= 2, split.validation.count >= 2 else {
            throw CLIError("\(data.byIdentity.count) identities with usable faces are too few to split into training, validation and test sets")
        }
        func vectors(_ names: [String]) -> [[[Double]]] { names.map { data.byIdentity[$0]!.map { $0.map(Double.init) } } }

        var options = MetricTrainingOptions()
        options.kind = head
        let m = margin ?? (loss == .triplet ? 0.2 : 0.7)
        options.loss = loss == .triplet ? .triplet(margin: m) : .contrastive(margin: m, squaredHinge: squaredHinge)
        options.mining = mining; options.weightDecay = weightDecay; options.learningRate = learningRate
        options.epochs = epochs; options.patience = patience; options.seed = seed
        options.identitiesPerBatch = batchIdentities; options.imagesPerIdentity = imagesPerIdentity
        let result = MetricTrainer(options: options).train(vectors(split.train), validation: vectors(split.validation))

        var trained = result.head
        var meta = MetricHead.Metadata()
        meta.baseModel = engine.modelID; meta.loss = loss.rawValue; meta.squaredHinge = squaredHinge; meta.mining = mining.rawValue
        meta.margin = m; meta.weightDecay = weightDecay; meta.learningRate = learningRate; meta.seed = seed
        meta.epochs = result.history.count - 1; meta.bestEpoch = result.bestEpoch
        meta.trainingSetHash = data.digest(of: split.train + split.validation)
        meta.trainingIdentities = split.train; meta.validationIdentities = split.validation; meta.testIdentities = split.test
        let first = result.history[0], best = result.history[result.bestEpoch]
        meta.validation = ["fmr": result.validationFMR, "base_fnmr": first.validationFNMR, "base_eer": first.validationEER,
                           "learned_fnmr": best.validationFNMR, "learned_eer": best.validationEER]
        meta.createdAt = ISO8601DateFormatter().string(from: Date())
        trained.metadata = meta

        let path = out.map { URL(fileURLWithPath: $0).absoluteURL.standardized.path }
            ?? global.wardenHome.file("heads/\(loss.rawValue)-\(head.rawValue).json")
        let sha = try MetricHeadFile.write(trained, to: path)
        let report = Report(file: path, sha256: sha, metadata: meta, history: result.history, validationFMR: result.validationFMR,
                            improved: result.bestEpoch > 0)
        if global.json { try Output.json(report); return }
        print(render(report, trainImages: split.train.reduce(0) { $0 + data.byIdentity[$1]!.count }))
    }

    private func render(_ r: Report, trainImages: Int) -> String {
        func pct(_ x: Double) -> String { String(format: "%.2f%%", x * 100) }
        let m = r.metadata
        var lines = ["\(head.rawValue) head, \(m.loss) loss\(m.squaredHinge ? " (squared hinge)" : ""), margin \(m.margin), \(m.mining) mining, seed \(m.seed)",
                     "identities: \(m.trainingIdentities.count) training (\(trainImages) images), \(m.validationIdentities.count) validation, \(m.testIdentities.count) held out for testing",
                     "", "epoch  loss     active  val FNMR@\(String(format: "%.0e", r.validationFMR))  val EER"]
        for e in r.history {
            lines.append(String(format: "%5d  %@  %@  %@  %@", e.epoch, e.trainingLoss.map { String(format: "%.4f", $0) } ?? "   -  ",
                                e.activeShare.map { String(format: "%5.1f%%", $0 * 100) } ?? "    - ", pct(e.validationFNMR).padding(toLength: 14, withPad: " ", startingAt: 0), pct(e.validationEER)))
        }
        lines.append("")
        if r.improved {
            lines.append("best epoch \(m.bestEpoch): validation FNMR \(pct(m.validation["base_fnmr"] ?? 0)) -> \(pct(m.validation["learned_fnmr"] ?? 0)), EER \(pct(m.validation["base_eer"] ?? 0)) -> \(pct(m.validation["learned_eer"] ?? 0))")
        } else {
            lines.append("no epoch beat the raw embedding on validation: the head written is the identity (it changes nothing)")
        }
        lines.append("written to \(r.file)")
        lines.append("next: warden eval DATASET --compare base,learned --metric-head \(r.file)   (held-out identities only)")
        lines.append("      warden calibrate DATASET --target-fmr 1e-3 --metric-head \(r.file)   (installs it with its thresholds)")
        return lines.joined(separator: "\n")
    }
}

extension MetricHead.Kind: ExpressibleByArgument {}
extension NegativeMining: ExpressibleByArgument {}
