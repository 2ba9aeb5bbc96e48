#include "core/task.h"

#include <QCoreApplication>

namespace appcore {

int taskFlag(Task task) {
    switch (task) {
        case Task::TextToImage:
            return kTaskTextToImage;
        case Task::TextToVideo:
            return kTaskTextToVideo;
        case Task::ImageToVideo:
            return kTaskImageToVideo;
        case Task::None:
            break;
    }
    return 0;
}

bool isVideoTask(Task task) {
    return task == Task::TextToVideo || task == Task::ImageToVideo;
}

QString taskId(Task task) {
    switch (task) {
        case Task::TextToImage:
            return QStringLiteral("text_to_image");
        case Task::TextToVideo:
            return QStringLiteral("text_to_video");
        case Task::ImageToVideo:
            return QStringLiteral("image_to_video");
        case Task::None:
            break;
    }
    return {};
}

Task taskFromId(const QString& id) {
    for (Task t : {Task::TextToImage, Task::TextToVideo, Task::ImageToVideo}) {
        if (taskId(t) == id) {
            return t;
        }
    }
    return Task::None;
}

QString taskBadge(Task task) {
    switch (task) {
        case Task::TextToImage:
            return QStringLiteral("T2I");
        case Task::TextToVideo:
            return QStringLiteral("T2V");
        case Task::ImageToVideo:
            return QStringLiteral("I2V");
        case Task::None:
            break;
    }
    return {};
}

QString taskLabel(Task task) {
    switch (task) {
        case Task::TextToImage:
            return QCoreApplication::translate("appcore", "Text to image");
        case Task::TextToVideo:
            return QCoreApplication::translate("appcore", "Text to video");
        case Task::ImageToVideo:
            return QCoreApplication::translate("appcore", "Image to video");
        case Task::None:
            break;
    }
    return {};
}

}  // namespace appcore
