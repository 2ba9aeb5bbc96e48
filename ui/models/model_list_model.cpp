#include "ui/models/model_list_model.h"

#include <QLocale>

namespace ui {

ModelListModel::ModelListModel(QObject* parent) : QAbstractListModel(parent) {}

int ModelListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(models_.size());
}

QHash<int, QByteArray> ModelListModel::roleNames() const {
    QHash<int, QByteArray> r = QAbstractListModel::roleNames();
    r.insert(PathRole, "path");
    r.insert(FamilyRole, "family");
    r.insert(TasksRole, "tasks");
    r.insert(TaskBadgesRole, "taskBadges");
    r.insert(SourceRole, "source");
    return r;
}

QVariant ModelListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const appcore::LocalModel& m = models_[index.row()];
    switch (role) {
        case Qt::DisplayRole:
            return m.name;
        case Qt::ToolTipRole: {
            QString source;
            switch (m.source) {
                case appcore::ModelSource::ModelsFolder:
                    source = tr("models folder");
                    break;
                case appcore::ModelSource::Added:
                    source = tr("added by you");
                    break;
                case appcore::ModelSource::HubCache:
                    source = tr("Hugging Face cache");
                    break;
            }
            return tr("<b>%1</b> (%2)<br>%3<br>%4 · %5")
                .arg(m.name.toHtmlEscaped(), appcore::familyLabel(m.family), m.path.toHtmlEscaped(), source,
                     QLocale().formattedDataSize(m.sizeBytes));
        }
        case PathRole:
            return m.path;
        case FamilyRole:
            return static_cast<int>(m.family);
        case TasksRole:
            return m.tasks;
        case TaskBadgesRole: {
            QStringList badges;
            for (appcore::Task t :
                 {appcore::Task::TextToImage, appcore::Task::TextToVideo, appcore::Task::ImageToVideo}) {
                if (m.supports(t)) {
                    badges << appcore::taskBadge(t);
                }
            }
            return badges.join(QLatin1Char(' '));
        }
        case SourceRole:
            return static_cast<int>(m.source);
        default:
            break;
    }
    return {};
}

void ModelListModel::setModels(const QList<appcore::LocalModel>& models) {
    beginResetModel();
    models_ = models;
    endResetModel();
}

int ModelListModel::rowOf(const QString& pathOrName) const {
    for (int i = 0; i < models_.size(); ++i) {
        if (models_[i].path == pathOrName) {
            return i;
        }
    }
    for (int i = 0; i < models_.size(); ++i) {
        if (models_[i].name == pathOrName) {
            return i;
        }
    }
    return -1;
}

}  // namespace ui
