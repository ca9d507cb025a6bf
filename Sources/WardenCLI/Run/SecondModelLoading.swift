import CommandSupport
import Controller
import FaceKit
import Foundation
import Matching
import OpenCVFaces

/// The second recognition model for `warden run`, `warden enroll` and the status: SFace
/// aligned by dlib's 68 points, both from the face models' folder (make setup installs them),
/// each file checked. Missing files or a configured metric head leave the site on dlib
/// alone, with the reason in words.
enum SecondModelLoading {
    /// The model, or why not.
    static func load(global: some LoadsModels, metricHead: MetricHead?) -> (model: SiteController.SecondModel?, problem: String?) {
        if metricHead != nil {
            return (nil, "a learned metric head is configured: the fusion is fitted on dlib's own distances, so faces are decided by dlib through the head alone")
        }
        do {
            let sface = try global.recognitionModelLocator.locate(.sface)
            let models = try global.modelLocator.locate(requiring: [.landmarks68])
            // dlib's shape predictor only reads its trees: one serves every thread (100 MB).
            let points = try Dlib68Points(models: models)
            _ = try SFaceRecognizer(sfacePath: sface, points: points)   // refused now, not at the first face
            // The site's own fusion when `warden calibrate` fitted one, else the measured default.
            let matching = try MatchingConfiguration.fusion(home: global.wardenHome) ?? SFaceRecognizer.measuredFusion
            guard matching.fusion.covers([ModelSet.recognitionModelID, SFaceRecognizer.modelID]) else {
                return (nil, "matching.yaml's fusion does not cover \(ModelSet.recognitionModelID) and \(SFaceRecognizer.modelID); run `warden calibrate` again")
            }
            let model = SiteController.SecondModel(modelID: SFaceRecognizer.modelID, make: { try SFaceRecognizer(sfacePath: sface, points: points) },
                                                   matching: matching)
            return (model, nil)
        } catch let e as RecognitionModelError {
            return (nil, e.description)
        } catch let e as ModelLocationError {
            return (nil, "dlib's 68-point predictor (\(ModelFile.landmarks68.rawValue)) is not installed; run `make setup`. " + e.description.components(separatedBy: "\n").first!)
        } catch {
            return (nil, "the second model could not load: \(error); faces are decided by dlib's model alone")
        }
    }
}
