// What a generation job does; shared by the GUI, the gallery store and the model list.
#pragma once

#include <QString>

namespace appcore {

/// A generation task. None is never a real choice.
enum class Task { None = 0, TextToImage, TextToVideo, ImageToVideo };

/// Bit flags of the tasks a model can run.
enum TaskFlag : int { kTaskTextToImage = 1, kTaskTextToVideo = 2, kTaskImageToVideo = 4 };

/// The flag bit of one task (0 for None).
int taskFlag(Task task);
/// True when the task produces a video.
bool isVideoTask(Task task);
/// Stable identifier: "text_to_image", "text_to_video", "image_to_video" ("" for None).
QString taskId(Task task);
/// Task from its identifier; None when unknown.
Task taskFromId(const QString& id);
/// Short label for badges: "T2I", "T2V", "I2V".
QString taskBadge(Task task);
/// Label for menus: "Text to image", ...
QString taskLabel(Task task);

}  // namespace appcore
