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
            let installed = try InstalledSecondModel(locator: global.recognitionModelLocator)
            // The site's own fusion when `warden calibrate` fitted one, else the measured default.
            let matching = try MatchingConfiguration.fusion(home: global.wardenHome) ?? SFaceRecognizer.measuredFusion
            guard matching.fusion.covers([ModelSet.recognitionModelID, SFaceRecognizer.modelID]) else {
                return (nil, "matching.yaml's fusion does not cover \(ModelSet.recognitionModelID) and \(SFaceRecognizer.modelID); run `warden calibrate` again")
            }
            return (SiteController.SecondModel(modelID: installed.modelID, make: { try installed.makeRecognizer() }, matching: matching), nil)
        } catch {
            return (nil, InstalledSecondModel.problem(error))
        }
    }
}
