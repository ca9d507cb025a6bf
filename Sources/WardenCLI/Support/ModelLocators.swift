import CommandSupport
import OpenCVFaces
import PresentationAttack

extension LoadsModels {
    package var padModelLocator: PADModelLocator { PADModelLocator(explicitDirectory: padModels, faceModels: modelLocator) }

    /// The second recognition model's files (SFace, YuNet): where the face models are, then
    /// the presentation-attack models' folder, which holds the other OpenCV model files.
    package var recognitionModelLocator: RecognitionModelLocator {
        let pad = padModelLocator.candidates.filter { !modelLocator.candidates.contains($0) }
        return RecognitionModelLocator(faceModels: modelLocator, extraDirectories: pad)
    }
}
