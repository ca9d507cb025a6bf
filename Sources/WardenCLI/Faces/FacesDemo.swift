import CommandSupport
import ArgumentParser
import FaceKit
import Foundation

struct FacesDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show the face engine on the bundled fixture photos: who matches whom.",
        discussion: """
        Runs the face engine on the unit-test photos that `make setup` installs (three photos \
        of Barack Obama, one of Joe Biden, and two partial faces): detects each face, embeds \
        it, and shows which photos the engine says are the same person.
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Folder of photos to use instead of the fixtures.") var photos: String?

    func run() throws {
        let folder = photos.map { URL(fileURLWithPath: $0) } ?? Checkout.fixtures
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        guard !names.isEmpty else { throw CLIError("no photos in \(folder.path); run `make setup` first") }
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }

        print("Warden face engine demo: \(names.count) photos from \(folder.path)")
        print("Model: \(engine.modelID); same person when the distance between unit embeddings is <= \(DefaultThresholds.euclidean)\n")
        var people: [(name: String, embedding: Embedding)] = []
        for name in names {
            let start = Date()
            do {
                let image = try RGBImage(contentsOf: folder.appendingPathComponent(name).path)
                let faces = try engine.detect(image)
                guard let face = faces.largest else {
                    print("  \(pad(name, 26)) no face found"); continue
                }
                let e = try engine.embed(image, face: face)
                let ms = Date().timeIntervalSince(start) * 1000
                print("  " + pad(name, 26) + String(format: "%4dx%-4d  face %3dx%-3d at (%d,%d)  score %.2f  %4.0f ms",
                             image.width, image.height, face.box.width, face.box.height,
                             face.box.left, face.box.top, face.score, ms))
                people.append((name, e))
            } catch {
                print("  \(name): \(error)")
            }
        }
        print("\nDistances (unit embeddings, Euclidean); * marks 'same person':")
        let short = people.map { String(($0.name as NSString).deletingPathExtension.prefix(10)) }
        print(String(repeating: " ", count: 12) + short.map { $0.padding(toLength: 11, withPad: " ", startingAt: 0) }.joined())
        for (i, a) in people.enumerated() {
            var row = short[i].padding(toLength: 12, withPad: " ", startingAt: 0)
            for b in people {
                let d = DistanceMetric.euclidean.distance(a.embedding.values, b.embedding.values)
                row += String(format: "%.3f", d) + (d <= DefaultThresholds.euclidean ? "*" : " ") + "      "
            }
            print(row)
        }
    }
}

package func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s.padding(toLength: n, withPad: " ", startingAt: 0) }
