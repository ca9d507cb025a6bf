import ArgumentParser
import FaceKit
import OpenCVFaces
import PresentationAttack

/// Options every command accepts.
package struct GlobalOptions: ParsableArguments {
    package init() {}
    @Option(name: .long, help: ArgumentHelp("Data directory for all state (databases, keys, calibration).",
                                            discussion: "Defaults to $WARDEN_HOME, else /var/lib/warden as root, else $XDG_DATA_HOME/warden.",
                                            valueName: "dir"))
    package var home: String?

    @Option(name: .long, help: ArgumentHelp("Folder holding the dlib model files.",
                                            discussion: "Defaults to $WARDEN_MODELS, else <home>/models, else the checkout's models/ filled by `make setup`.",
                                            valueName: "dir"))
    package var models: String?

    @Option(name: .customLong("pad-models"), help: ArgumentHelp("Folder holding the presentation-attack (liveness) models.",
                                                                discussion: "Defaults to $WARDEN_PAD_MODELS, else where the face models are looked for.",
                                                                valueName: "dir"))
    package var padModels: String?

    @Option(name: .long, help: ArgumentHelp("Make the change at this fleet server instead of in the local database.",
                                            discussion: "Defaults to $WARDEN_SERVER. Needs $WARDEN_OPERATOR_TOKEN and the site CA (--server-ca).",
                                            valueName: "url"))
    package var server: String?

    @Option(name: .customLong("server-ca"), help: ArgumentHelp("The site CA's certificate, to check the fleet server by (default $WARDEN_SERVER_CA).", valueName: "file"))
    package var serverCA: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    package var json = false

    package var wardenHome: WardenHome { WardenHome(explicit: home) }

    package var modelLocator: ModelLocator { ModelLocator(explicitDirectory: models, homeDirectory: wardenHome.path) }

    package var padModelLocator: PADModelLocator { PADModelLocator(explicitDirectory: padModels, faceModels: modelLocator) }
    /// The second recognition model's files (SFace, YuNet): where the face models are, then
    /// the presentation-attack models' folder, which holds the other OpenCV model files.
    package var recognitionModelLocator: RecognitionModelLocator {
        let pad = padModelLocator.candidates.filter { !modelLocator.candidates.contains($0) }
        return RecognitionModelLocator(faceModels: modelLocator, extraDirectories: pad)
    }
}
