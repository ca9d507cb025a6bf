/// The recognition port: a face found in an image in, a unit embedding tagged with its
/// model out. dlib's ResNet (`FaceEngine`) and SFace (`SFaceRecognizer`, in OpenCVFaces)
/// sit behind it. Each implementation aligns the face its own way (dlib's 150x150 chip from
/// its five points; SFace's 112x112 from eye centres, nose tip and mouth corners), so the
/// port takes the face as found, not an aligned chip.
///
/// An implementation is not thread-safe (its network keeps state between passes): give
/// each thread its own.
public protocol FaceRecognizer: AnyObject {
    /// Stored with every embedding: a template is only compared with a probe of the same model.
    var modelID: String { get }
    func embed(_ image: RGBImage, face: Face) throws(FaceEngineError) -> Embedding
}

extension FaceEngine: FaceRecognizer {}

/// Where a face's five alignment points come from, for a model that aligns by eye centres,
/// nose tip and mouth corners (SFace): ten numbers, x and y of the person's right eye (on
/// the image's left), left eye, nose tip, right and left mouth corners; nil when the points
/// cannot be found for this face.
public protocol FivePointFinder: AnyObject {
    /// Names the method and its constants, for caches of embeddings made with its points.
    var methodID: String { get }
    func points(_ image: RGBImage, face: Face) throws(FaceEngineError) -> [Float]?
}
